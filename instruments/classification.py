"""The 6-digit classification of large research instruments.

Codes read AABBCC: AA is one of the 15 top categories used in the national
instrument-sharing reports, BB a subcategory, CC an item. The names are a
national reference, not platform configuration, so they live in code.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Category:
    code: str  # two digits
    name_zh: str
    name_en: str


TOP_CATEGORIES: tuple[Category, ...] = (
    Category("01", "分析仪器", "Analytical instruments"),
    Category("02", "物理性能测试仪器", "Physical property testing"),
    Category("03", "计量仪器", "Metrology instruments"),
    Category("04", "电子测量仪器", "Electronic measurement"),
    Category("05", "海洋仪器", "Marine instruments"),
    Category("06", "地球探测仪器", "Earth exploration"),
    Category("07", "大气探测仪器", "Atmospheric sounding"),
    Category("08", "天文仪器", "Astronomical instruments"),
    Category("09", "医学科研仪器", "Medical research instruments"),
    Category("10", "核仪器", "Nuclear instruments"),
    Category("11", "特种检测仪器", "Special inspection instruments"),
    Category("12", "工艺实验设备", "Process test equipment"),
    Category("13", "计算机及其配套设备", "Computers and peripherals"),
    Category("14", "激光器", "Lasers"),
    Category("15", "其他仪器", "Other instruments"),
)

# Subcategories (AABB) where the reports name them; others fall back to the top name.
SUBCATEGORIES: dict[str, tuple[str, str]] = {
    "0101": ("电子光学仪器", "Electron optics"),
    "0102": ("质谱仪器", "Mass spectrometry"),
    "0103": ("X射线仪器", "X-ray instruments"),
    "0104": ("光谱仪器", "Spectroscopy"),
    "0105": ("色谱仪器", "Chromatography"),
    "0106": ("波谱仪器", "Magnetic resonance"),
    "0107": ("电化学仪器", "Electrochemistry"),
    "0108": ("显微镜及图像分析仪器", "Microscopy and image analysis"),
    "0109": ("热分析仪器", "Thermal analysis"),
    "0110": ("生化分离分析仪器", "Biochemical separation"),
    "0111": ("环境与农业分析仪器", "Environmental and agricultural analysis"),
    "0112": ("样品前处理及制备仪器", "Sample preparation"),
    "0201": ("力学性能测试仪器", "Mechanical testing"),
    "0202": ("大地测量仪器", "Geodetic instruments"),
    "0203": ("光电测量仪器", "Optoelectronic measurement"),
    "0204": ("声学振动仪器", "Acoustics and vibration"),
    "0205": ("颗粒度测量仪器", "Particle size measurement"),
    "0206": ("探伤仪器", "Flaw detection"),
    "0301": ("长度计量仪器", "Length metrology"),
    "0302": ("热学计量仪器", "Thermal metrology"),
    "0303": ("力学计量仪器", "Force metrology"),
    "0304": ("电磁学计量仪器", "Electromagnetic metrology"),
    "0305": ("时间频率计量仪器", "Time and frequency metrology"),
    "0401": ("通用电子测量仪器", "General electronic measurement"),
    "0402": ("射频和微波测试仪器", "RF and microwave testing"),
    "0403": ("通讯测量仪器", "Communication measurement"),
    "0404": ("网络分析仪器", "Network analysers"),
    "0405": ("半导体器件测量仪器", "Semiconductor device testing"),
    "0901": ("影像类", "Imaging"),
    "0902": ("电生理类", "Electrophysiology"),
    "0903": ("细胞分析仪器", "Cell analysis"),
    "1201": ("加工工艺实验设备", "Machining process equipment"),
    "1202": ("微纳加工设备", "Micro/nano fabrication"),
    "1203": ("环境试验设备", "Environmental test chambers"),
    "1301": ("高性能计算设备", "High-performance computing"),
}

CATEGORY_BY_CODE: dict[str, Category] = {c.code: c for c in TOP_CATEGORIES}

# Service-item categories (检验检测类别) used to group testing services.
SERVICE_CATEGORIES: tuple[tuple[str, str, str], ...] = (
    ("chemical", "化学成分分析", "Chemical composition"),
    ("materials", "材料性能测试", "Materials testing"),
    ("environment", "环境检测", "Environmental testing"),
    ("biomedical", "生物医药检测", "Biomedical testing"),
    ("electrical", "电子电气检测", "Electrical and electronic testing"),
    ("metrology", "计量校准", "Calibration"),
    ("food", "食品安全检测", "Food safety"),
    ("structure", "微观结构表征", "Microstructure characterisation"),
)
SERVICE_CATEGORY_CODES = tuple(c[0] for c in SERVICE_CATEGORIES)


def is_valid_code(code: str) -> bool:
    return len(code) == 6 and code.isdigit() and code[:2] in CATEGORY_BY_CODE


def category_name(code: str, locale: str) -> str:
    """Name of a top category (2 digits) or the subcategory of a 6-digit code."""
    english = locale.startswith("en")
    if len(code) >= 4 and code[:4] in SUBCATEGORIES:
        zh, en = SUBCATEGORIES[code[:4]]
        return en if english else zh
    top = CATEGORY_BY_CODE.get(code[:2])
    if top is None:
        return code
    return top.name_en if english else top.name_zh


def service_category_name(code: str, locale: str) -> str:
    for key, zh, en in SERVICE_CATEGORIES:
        if key == code:
            return en if locale.startswith("en") else zh
    return code


# Labels for enum values shown in forms and lists (translated through Babel).
INSTRUMENT_STATUS_LABELS = {
    "normal": _l("正常"),
    "standby": _l("待机"),
    "remote": _l("远程服务中"),
    "occasional_fault": _l("偶有故障"),
    "frequent_fault": _l("故障频繁"),
    "awaiting_repair": _l("待修"),
    "awaiting_disposal": _l("待报废"),
}
SHARING_MODE_LABELS = {
    "internal": _l("内部共享"),
    "external": _l("外部共享"),
    "none": _l("不共享"),
}
SERVICE_MODE_LABELS = {
    "occupy": _l("占用共享（自主上机，需培训）"),
    "technical": _l("技术共享（指导下自主操作）"),
    "entrusted": _l("委托共享（送样，机组人员操作）"),
    "remote": _l("远程共享"),
}
SOURCE_LABELS = {"purchased": _l("购置"), "built": _l("研制"), "donated": _l("捐赠")}
