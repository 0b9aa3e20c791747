"""Name pools and generators for the demo alliance that `booking.demo` loads.

The Yangtze River Delta platform of Jiading, Suzhou and Wenzhou started with
130 member institutions, 1,705 large instruments and 309 testing services
(see ../shared/seeds/004). Everything here is plain data and pure functions
over a `random.Random` with a fixed seed: no database, so the same call
always yields the same alliance, and `booking.demo` can skip what exists.

The institutions are real-sounding; the generated testing bodies, engineering
centres and enterprises are invented. Manufacturer names are real brands,
model strings are plausible, every figure is made up within realistic ranges.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import cache
from itertools import accumulate
from typing import Any

from booking.accounts import uscc

SEED = 20181122  # opening day of the first YRD science and technology trade fair

REALISTIC_INSTRUMENTS = 1705
SERVICE_ITEMS = 309
MEMBER_INSTITUTIONS = 130


# --- regions and their authorities --------------------------------------------


@dataclass(frozen=True)
class RegionSpec:
    code: str
    name_zh: str
    name_en: str
    division_code: str
    area_code: str  # telephone
    city_zh: str  # prefix of generated firm names
    city_en: str
    authority_zh: str
    authority_en: str
    authority_address: str
    towns: tuple[tuple[str, str, str], ...]  # (zh, en, suffix in addresses)
    roads: tuple[str, ...]
    address_prefix: str


REGIONS: tuple[RegionSpec, ...] = (
    RegionSpec(
        code="jiading",
        name_zh="嘉定区",
        name_en="Jiading District, Shanghai",
        division_code="310114",
        area_code="021",
        city_zh="上海",
        city_en="Shanghai",
        authority_zh="嘉定区科学技术委员会",
        authority_en="Science and Technology Commission of Jiading District",
        authority_address="上海市嘉定区博乐路118号",
        towns=(
            ("安亭", "Anting", "镇"),
            ("南翔", "Nanxiang", "镇"),
            ("马陆", "Malu", "镇"),
            ("江桥", "Jiangqiao", "镇"),
            ("外冈", "Waigang", "镇"),
            ("徐行", "Xuhang", "镇"),
            ("华亭", "Huating", "镇"),
            ("菊园", "Juyuan", "新区"),
            ("嘉定新城", "Jiading New City", ""),
            ("嘉定工业区", "Jiading Industrial Zone", ""),
        ),
        roads=(
            "墨玉南路",
            "博园路",
            "嘉松北路",
            "叶城路",
            "城北路",
            "胜辛北路",
            "沪宜公路",
            "曹安公路",
            "兴贤路",
            "园国路",
            "安拓路",
            "嘉罗公路",
            "和硕路",
        ),
        address_prefix="上海市嘉定区",
    ),
    RegionSpec(
        code="suzhou",
        name_zh="苏州市",
        name_en="Suzhou",
        division_code="320500",
        area_code="0512",
        city_zh="苏州",
        city_en="Suzhou",
        authority_zh="苏州市科学技术局",
        authority_en="Suzhou Municipal Bureau of Science and Technology",
        authority_address="江苏省苏州市姑苏区三香路998号",
        towns=(
            ("昆山", "Kunshan", "市"),
            ("太仓", "Taicang", "市"),
            ("常熟", "Changshu", "市"),
            ("张家港", "Zhangjiagang", "市"),
            ("吴江", "Wujiang", "区"),
            ("吴中", "Wuzhong", "区"),
            ("相城", "Xiangcheng", "区"),
            ("姑苏", "Gusu", "区"),
            ("工业园区", "Industrial Park", ""),
            ("高新区", "New District", ""),
        ),
        roads=(
            "星湖街",
            "金鸡湖大道",
            "若水路",
            "竹园路",
            "前进东路",
            "郑和中路",
            "东吴北路",
            "澄阳路",
            "长江路",
            "仁爱路",
            "科灵路",
            "苏虹中路",
            "通园路",
            "松江路",
        ),
        address_prefix="江苏省苏州市",
    ),
    RegionSpec(
        code="wenzhou",
        name_zh="温州市",
        name_en="Wenzhou",
        division_code="330300",
        area_code="0577",
        city_zh="温州",
        city_en="Wenzhou",
        authority_zh="温州市科学技术局",
        authority_en="Wenzhou Municipal Bureau of Science and Technology",
        authority_address="浙江省温州市鹿城区市府路500号",
        towns=(
            ("鹿城", "Lucheng", "区"),
            ("瓯海", "Ouhai", "区"),
            ("龙湾", "Longwan", "区"),
            ("乐清", "Yueqing", "市"),
            ("瑞安", "Rui'an", "市"),
            ("永嘉", "Yongjia", "县"),
            ("平阳", "Pingyang", "县"),
            ("苍南", "Cangnan", "县"),
            ("龙港", "Longgang", "市"),
            ("洞头", "Dongtou", "区"),
        ),
        roads=(
            "飞霞南路",
            "学院中路",
            "永强大道",
            "滨海大道",
            "温州大道",
            "瓯海大道",
            "柳青路",
            "安阳路",
            "东海大道",
            "高教园区大学路",
            "车站大道",
            "江滨路",
        ),
        address_prefix="浙江省温州市",
    ),
)
REGION_BY_CODE = {r.code: r for r in REGIONS}


@dataclass(frozen=True)
class PlatformSpec:
    name_zh: str
    name_en: str
    region_code: str
    address: str
    contact_phone: str
    uscc: str


# The operator sits in the 嘉定创新创业大厦 named in the seed article.
PLATFORM = PlatformSpec(
    name_zh="长三角科技资源共享服务平台运营中心",
    name_en="YRD Science and Technology Resource Sharing Platform Operations Centre",
    region_code="jiading",
    address="上海市嘉定区裕民南路1515号 嘉定创新创业大厦",
    contact_phone="021-59990000",
    uscc=uscc.make("310114", 1, "52"),  # 52: 民办非企业单位
)


def authority_uscc(region: RegionSpec) -> str:
    """Authorities register as 机关 (11)."""
    index = [r.code for r in REGIONS].index(region.code)
    return uscc.make(region.division_code, 11 + index, "11")


# --- people and phones -----------------------------------------------------------

SURNAMES = (
    "王",
    "李",
    "张",
    "刘",
    "陈",
    "杨",
    "黄",
    "赵",
    "吴",
    "周",
    "徐",
    "孙",
    "马",
    "朱",
    "胡",
    "郭",
    "何",
    "林",
    "罗",
    "高",
    "郑",
    "梁",
    "谢",
    "宋",
    "唐",
    "许",
    "韩",
    "冯",
    "邓",
    "曹",
    "彭",
    "曾",
    "沈",
    "陆",
    "顾",
    "钱",
    "蒋",
    "潘",
    "金",
    "叶",
)
GIVEN_NAMES = (
    "伟",
    "敏",
    "静",
    "磊",
    "洋",
    "婷",
    "强",
    "军",
    "杰",
    "娟",
    "志明",
    "晓燕",
    "建华",
    "海涛",
    "丽娜",
    "文博",
    "雪梅",
    "国平",
    "振宇",
    "思远",
    "佳怡",
    "晨曦",
    "子涵",
    "浩然",
    "立新",
    "秀英",
    "永刚",
    "春华",
    "俊杰",
    "雨欣",
    "明辉",
    "晓东",
    "慧敏",
    "宏伟",
    "凯",
    "一鸣",
    "若曦",
    "卫东",
    "红梅",
    "嘉豪",
)


def person_name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)


def phone(rng: random.Random, area_code: str) -> str:
    first = "5" if area_code == "021" else "6" if area_code == "0512" else "8"
    return f"{area_code}-{first}{rng.randrange(1_000_000, 9_999_999):07d}"


def mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3589')}{rng.randrange(0, 10**9):09d}"


# --- member institutions -----------------------------------------------------------


@dataclass(frozen=True)
class ProviderSpec:
    key: str  # stable within the demo
    region_code: str
    provider_type: str  # university, institute, testing_body, engineering_centre
    name_zh: str
    name_en: str
    address: str
    focus: tuple[str, ...]  # instrument and service tags it leans towards
    weight: int  # relative share of the 1,705 instruments
    serial: int  # organisation-code part of the USCC
    registration: str  # first two USCC characters
    must_have: tuple[str, ...] = ()  # classification codes it certainly owns

    @property
    def uscc(self) -> str:
        return uscc.make(
            REGION_BY_CODE[self.region_code].division_code, self.serial, self.registration
        )


# (key, region, type, zh, en, address, focus, weight, must_have)
_NAMED: tuple[tuple[str, str, str, str, str, str, tuple[str, ...], int, tuple[str, ...]], ...] = (
    (
        "tongji-jd",
        "jiading",
        "university",
        "同济大学嘉定校区",
        "Tongji University, Jiading Campus",
        "上海市嘉定区曹安公路4800号",
        ("mech", "auto", "elec", "struct", "hpc"),
        95,
        (),
    ),
    (
        "shu-jd",
        "jiading",
        "university",
        "上海大学嘉定校区",
        "Shanghai University, Jiading Campus",
        "上海市嘉定区城中路20号",
        ("struct", "materials", "thermal", "mech"),
        70,
        (),
    ),
    (
        "siom",
        "jiading",
        "institute",
        "中国科学院上海光学精密机械研究所",
        "Shanghai Institute of Optics and Fine Mechanics, CAS",
        "上海市嘉定区清河路390号",
        ("optics", "struct", "semi", "metro"),
        80,
        (),
    ),
    (
        "sim-jd",
        "jiading",
        "institute",
        "中国科学院上海微系统与信息技术研究所",
        "Shanghai Institute of Microsystem and Information Technology, CAS",
        "上海市嘉定区新成路500号",
        ("semi", "elec", "struct"),
        75,
        (),
    ),
    (
        "sic-jd",
        "jiading",
        "institute",
        "中国科学院上海硅酸盐研究所嘉定园区",
        "Shanghai Institute of Ceramics, CAS (Jiading Campus)",
        "上海市嘉定区和硕路585号",
        ("chem", "ms", "struct", "thermal", "particle", "nmr"),
        72,
        ("010201", "010501"),
    ),
    (
        "sinap",
        "jiading",
        "institute",
        "中国科学院上海应用物理研究所",
        "Shanghai Institute of Applied Physics, CAS",
        "上海市嘉定区嘉罗公路2019号",
        ("chem", "ms", "struct", "nmr", "hpc"),
        55,
        (),
    ),
    (
        "jd-nm",
        "jiading",
        "institute",
        "上海嘉定新材料产业研究院",
        "Shanghai Jiading Institute of Advanced Materials Industry",
        "上海市嘉定区叶城路912号",
        ("materials", "struct", "thermal", "mech"),
        30,
        (),
    ),
    (
        "smvic",
        "jiading",
        "testing_body",
        "上海机动车检测认证技术研究中心",
        "Shanghai Motor Vehicle Inspection and Certification Technology Research Centre",
        "上海市嘉定区安亭镇于田路68号",
        ("auto", "mech", "env", "elec"),
        40,
        (),
    ),
    (
        "jd-zj",
        "jiading",
        "testing_body",
        "上海市嘉定区产品质量监督检验所",
        "Jiading Product Quality Supervision and Inspection Institute",
        "上海市嘉定区沪宜公路1188号",
        ("chem", "food", "water", "mech"),
        22,
        (),
    ),
    (
        "fcv-erc",
        "jiading",
        "engineering_centre",
        "国家燃料电池汽车及动力系统工程技术研究中心",
        "National Fuel Cell Vehicle and Powertrain Engineering Research Centre",
        "上海市嘉定区曹安公路4800号",
        ("auto", "elec", "env", "thermal"),
        20,
        (),
    ),
    (
        "suda",
        "suzhou",
        "university",
        "苏州大学",
        "Soochow University",
        "江苏省苏州市姑苏区十梓街1号",
        ("chem", "ms", "bio", "struct", "nmr"),
        95,
        (),
    ),
    (
        "xjtlu",
        "suzhou",
        "university",
        "西交利物浦大学",
        "Xi'an Jiaotong-Liverpool University",
        "江苏省苏州市工业园区仁爱路111号",
        ("bio", "chem", "elec", "hpc"),
        40,
        (),
    ),
    (
        "usts",
        "suzhou",
        "university",
        "苏州科技大学",
        "Suzhou University of Science and Technology",
        "江苏省苏州市高新区科锐路1号",
        ("water", "chem", "materials", "mech"),
        40,
        (),
    ),
    (
        "cslg",
        "suzhou",
        "university",
        "常熟理工学院",
        "Changshu Institute of Technology",
        "江苏省苏州市常熟市南三环路99号",
        ("mech", "materials", "auto"),
        25,
        (),
    ),
    (
        "sinano",
        "suzhou",
        "institute",
        "中国科学院苏州纳米技术与纳米仿生研究所",
        "Suzhou Institute of Nano-Tech and Nano-Bionics, CAS",
        "江苏省苏州市工业园区若水路398号",
        ("semi", "struct", "elec", "particle"),
        90,
        ("120201", "010101"),
    ),
    (
        "sibet",
        "suzhou",
        "institute",
        "中国科学院苏州生物医学工程技术研究所",
        "Suzhou Institute of Biomedical Engineering and Technology, CAS",
        "江苏省苏州市高新区科灵路88号",
        ("bio", "optics", "ms"),
        65,
        (),
    ),
    (
        "aircas-sz",
        "suzhou",
        "institute",
        "中国科学院电子学研究所苏州研究院",
        "Suzhou Research Institute, Institute of Electronics, CAS",
        "江苏省苏州市高新区科技城青山路1号",
        ("elec", "semi"),
        30,
        (),
    ),
    (
        "tsinghua-auto-sz",
        "suzhou",
        "institute",
        "清华大学苏州汽车研究院",
        "Suzhou Automotive Research Institute, Tsinghua University",
        "江苏省苏州市相城区相城大道1号",
        ("auto", "mech", "env", "elec"),
        35,
        (),
    ),
    (
        "sz-nano-ind",
        "suzhou",
        "institute",
        "苏州工业园区纳米产业技术研究院",
        "Suzhou Nanotech Industry Research Institute",
        "江苏省苏州市工业园区金鸡湖大道99号",
        ("semi", "struct"),
        30,
        (),
    ),
    (
        "sz-zj",
        "suzhou",
        "testing_body",
        "苏州市产品质量监督检验院",
        "Suzhou Product Quality Supervision and Inspection Institute",
        "江苏省苏州市高新区青城山路15号",
        ("chem", "elec", "mech", "env", "food"),
        45,
        (),
    ),
    (
        "sz-jl",
        "suzhou",
        "testing_body",
        "苏州市计量测试院",
        "Suzhou Institute of Metrology",
        "江苏省苏州市工业园区方洲路6号",
        ("metro", "elec", "thermal"),
        30,
        (),
    ),
    (
        "wzu",
        "wenzhou",
        "university",
        "温州大学",
        "Wenzhou University",
        "浙江省温州市瓯海区茶山高教园区",
        ("chem", "materials", "elec", "struct"),
        70,
        (),
    ),
    (
        "wmu",
        "wenzhou",
        "university",
        "温州医科大学",
        "Wenzhou Medical University",
        "浙江省温州市瓯海区茶山高教园区学院西路",
        ("bio", "ms", "chem"),
        75,
        (),
    ),
    (
        "kean",
        "wenzhou",
        "university",
        "温州肯恩大学",
        "Wenzhou-Kean University",
        "浙江省温州市瓯海区大学路88号",
        ("bio", "chem"),
        20,
        (),
    ),
    (
        "wzut",
        "wenzhou",
        "university",
        "温州理工学院",
        "Wenzhou University of Technology",
        "浙江省温州市瓯海区高教园区",
        ("mech", "elec", "materials"),
        20,
        (),
    ),
    (
        "ucas-wz",
        "wenzhou",
        "institute",
        "中国科学院大学温州研究院",
        "Wenzhou Institute, University of Chinese Academy of Sciences",
        "浙江省温州市龙湾区金海大道1号",
        ("bio", "chem", "ms", "struct"),
        45,
        (),
    ),
    (
        "wz-agri",
        "wenzhou",
        "institute",
        "温州市农业科学研究院",
        "Wenzhou Academy of Agricultural Sciences",
        "浙江省温州市瓯海区娄桥街道",
        ("food", "chem", "bio"),
        20,
        (),
    ),
    (
        "wz-zj",
        "wenzhou",
        "testing_body",
        "温州市质量技术检测科学研究院",
        "Wenzhou Institute of Quality and Technical Inspection Science",
        "浙江省温州市鹿城区经济开发区滨海大道",
        ("elec", "mech", "chem", "metro", "env"),
        45,
        (),
    ),
    (
        "wz-spyp",
        "wenzhou",
        "testing_body",
        "温州市食品药品检验科学研究院",
        "Wenzhou Institute for Food and Drug Control",
        "浙江省温州市鹿城区学院中路",
        ("food", "chem", "ms", "bio"),
        25,
        (),
    ),
    (
        "wz-jl",
        "wenzhou",
        "testing_body",
        "温州市计量科学研究院",
        "Wenzhou Institute of Metrology",
        "浙江省温州市瓯海区温州大道",
        ("metro", "elec", "thermal"),
        18,
        (),
    ),
)

# Specialities of generated testing bodies and engineering centres: (zh, en, focus).
_TESTING_FIELDS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "common": (
        ("新材料", "Advanced Materials", ("materials", "struct", "mech", "thermal")),
        ("环境", "Environmental", ("water", "chem", "ms")),
        ("食品", "Food", ("food", "chem", "ms")),
        ("电子电器", "Electrical and Electronic", ("elec", "env")),
        ("化工产品", "Chemical Products", ("chem", "ms", "thermal")),
        ("精密计量", "Precision Metrology", ("metro", "mech")),
        ("医疗器械", "Medical Device", ("bio", "chem", "env")),
        ("可靠性", "Reliability", ("env", "elec", "mech")),
    ),
    "jiading": (
        ("汽车零部件", "Auto Parts", ("auto", "mech", "env")),
        ("智能网联汽车", "Connected Vehicle", ("auto", "elec")),
        ("动力电池", "Traction Battery", ("auto", "thermal", "env", "elec")),
    ),
    "suzhou": (
        ("集成电路", "Integrated Circuit", ("semi", "elec", "struct")),
        ("纺织纤维", "Textile Fibre", ("chem", "mech")),
        ("光电显示", "Optoelectronic Display", ("optics", "elec", "struct")),
    ),
    "wenzhou": (
        ("电气", "Electrical Apparatus", ("elec", "env", "mech")),
        ("鞋革", "Footwear and Leather", ("chem", "mech")),
        ("泵阀", "Pump and Valve", ("mech", "metro")),
        ("眼镜", "Eyewear", ("optics", "chem", "mech")),
    ),
}

_ERC_FIELDS: dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]] = {
    "jiading": (
        ("汽车轻量化材料", "Automotive Lightweight Materials", ("materials", "mech", "auto")),
        ("智能网联汽车电子", "Connected Vehicle Electronics", ("elec", "auto")),
        ("氢能与燃料电池", "Hydrogen and Fuel Cell", ("auto", "thermal", "chem")),
        ("激光智能制造", "Laser Intelligent Manufacturing", ("optics", "mech")),
        ("功率半导体器件", "Power Semiconductor Devices", ("semi", "elec")),
        ("高端医疗影像设备", "Medical Imaging Equipment", ("bio", "elec")),
        ("高分子复合材料", "Polymer Composites", ("materials", "thermal", "mech")),
        ("工业机器人", "Industrial Robotics", ("mech", "metro", "elec")),
        ("汽车动力总成", "Automotive Powertrain", ("auto", "mech", "env")),
        ("特种光纤", "Specialty Optical Fibre", ("optics", "struct")),
        ("精密检测装备", "Precision Inspection Equipment", ("metro", "optics")),
        ("新能源汽车热管理", "EV Thermal Management", ("auto", "thermal", "env")),
        ("集成电路装备", "IC Equipment", ("semi", "elec")),
        ("生物医用材料", "Biomedical Materials", ("bio", "materials")),
        ("先进涂层", "Advanced Coatings", ("materials", "struct", "env")),
    ),
    "suzhou": (
        ("纳米功能材料", "Nano Functional Materials", ("materials", "struct", "particle")),
        ("第三代半导体", "Wide-Bandgap Semiconductors", ("semi", "elec", "struct")),
        ("体外诊断试剂", "In-Vitro Diagnostics", ("bio", "chem")),
        ("高端装备制造", "High-End Equipment Manufacturing", ("mech", "metro")),
        ("光电显示材料", "Optoelectronic Display Materials", ("optics", "chem", "struct")),
        ("生物医药", "Biopharmaceuticals", ("bio", "ms", "chem")),
        ("精密模具", "Precision Moulds", ("mech", "metro", "materials")),
        ("工业软件与仿真", "Industrial Software and Simulation", ("hpc", "elec")),
        ("先进金属材料", "Advanced Metallic Materials", ("materials", "mech", "struct")),
        ("智能传感器", "Smart Sensors", ("semi", "elec")),
        ("新型电池材料", "Battery Materials", ("materials", "thermal", "particle")),
        ("医疗机器人", "Medical Robotics", ("bio", "mech")),
        ("环保装备", "Environmental Protection Equipment", ("water", "chem")),
        ("化学纤维", "Chemical Fibres", ("chem", "thermal", "mech")),
        ("5G通信器件", "5G Communication Devices", ("elec", "semi")),
    ),
    "wenzhou": (
        ("低压电器", "Low-Voltage Electrical Apparatus", ("elec", "env", "mech")),
        ("流体装备", "Fluid Machinery", ("mech", "metro")),
        ("合成革", "Synthetic Leather", ("chem", "mech", "thermal")),
        ("汽摩配件", "Auto and Motorcycle Parts", ("auto", "mech")),
        ("眼视光", "Ophthalmic Optics", ("bio", "optics")),
        ("激光与光电", "Laser and Photonics", ("optics", "elec")),
        ("新型建材", "New Building Materials", ("materials", "mech", "particle")),
        ("智能电气", "Smart Electrical Equipment", ("elec", "env")),
        ("生物医用材料", "Biomedical Materials", ("bio", "materials")),
        ("鞋类设计制造", "Footwear Design and Manufacturing", ("mech", "chem")),
    ),
}

_PROVINCE = {
    "jiading": ("上海市", "Shanghai"),
    "suzhou": ("江苏省", "Jiangsu"),
    "wenzhou": ("浙江省", "Zhejiang"),
}
_GENERATED_COUNTS = {"jiading": 38, "suzhou": 39, "wenzhou": 23}

_PROVIDER_SERIAL_BASE = 100_000


def _address(rng: random.Random, region: RegionSpec) -> str:
    town, _, suffix = rng.choice(region.towns)
    road = rng.choice(region.roads)
    return f"{region.address_prefix}{town}{suffix}{road}{rng.randrange(8, 2999)}号"


def providers() -> list[ProviderSpec]:
    """The 130 member institutions: the named ones, then generated testing
    bodies and enterprise engineering centres, region by region."""
    rng = random.Random(f"{SEED}-providers")
    specs: list[ProviderSpec] = []
    serial = _PROVIDER_SERIAL_BASE
    for key, region_code, ptype, zh, en, address, focus, weight, must in _NAMED:
        serial += 1
        registration = "91" if ptype in ("testing_body", "engineering_centre") else "12"
        specs.append(
            ProviderSpec(
                key,
                region_code,
                ptype,
                zh,
                en,
                address,
                focus,
                weight,
                serial,
                registration,
                must,
            )
        )
    names = {s.name_zh for s in specs}
    for region in REGIONS:
        count = _GENERATED_COUNTS[region.code]
        testing = count * 11 // 20
        fields = _TESTING_FIELDS["common"] + _TESTING_FIELDS[region.code]
        n = 0
        while n < testing:
            town_zh, town_en, _ = rng.choice(region.towns)
            field_zh, field_en, focus = rng.choice(fields)
            if rng.random() < 0.6:
                zh = f"{region.city_zh}{town_zh}{field_zh}检测技术有限公司"
                en = f"{region.city_en} {town_en} {field_en} Testing Technology Co., Ltd."
            else:
                zh = f"{region.city_zh}市{town_zh}{field_zh}检验检测中心"
                en = f"{town_en} {field_en} Inspection and Testing Centre, {region.city_en}"
            if zh in names:
                continue
            names.add(zh)
            n += 1
            serial += 1
            specs.append(
                ProviderSpec(
                    f"tb-{region.code}-{n:02d}",
                    region.code,
                    "testing_body",
                    zh,
                    en,
                    _address(rng, region),
                    focus,
                    rng.choice((8, 10, 12, 15)),
                    serial,
                    "91",
                )
            )
        ercs = list(_ERC_FIELDS[region.code])
        rng.shuffle(ercs)
        province_zh, province_en = _PROVINCE[region.code]
        city_level = (f"{region.city_zh}市", region.city_en)
        n = 0
        for field_zh, field_en, focus in ercs * 2:
            if n >= count - testing:
                break
            level_zh, level_en = city_level if n >= len(ercs) else (province_zh, province_en)
            if region.code == "jiading" and n >= len(ercs):
                level_zh, level_en = "嘉定区", "Jiading"
            zh = f"{level_zh}{field_zh}工程技术研究中心"
            if zh in names:
                continue
            names.add(zh)
            n += 1
            serial += 1
            specs.append(
                ProviderSpec(
                    f"erc-{region.code}-{n:02d}",
                    region.code,
                    "engineering_centre",
                    zh,
                    f"{level_en} Engineering Research Centre of {field_en}",
                    _address(rng, region),
                    focus,
                    rng.choice((4, 5, 6, 8)),
                    serial,
                    "91",
                )
            )
    assert len(specs) == MEMBER_INSTITUTIONS, len(specs)
    return specs


# --- manufacturers and instrument kinds ------------------------------------------


@dataclass(frozen=True)
class Maker:
    name_zh: str
    name_en: str
    country: str

    @property
    def label(self) -> str:
        return f"{self.name_zh} {self.name_en}"


MAKERS: dict[str, Maker] = {
    "thermo": Maker("赛默飞世尔", "Thermo Fisher Scientific", "美国"),
    "agilent": Maker("安捷伦", "Agilent Technologies", "美国"),
    "shimadzu": Maker("岛津", "Shimadzu", "日本"),
    "bruker": Maker("布鲁克", "Bruker", "德国"),
    "zeiss": Maker("蔡司", "Carl Zeiss", "德国"),
    "hitachi": Maker("日立", "Hitachi High-Tech", "日本"),
    "jeol": Maker("日本电子", "JEOL", "日本"),
    "waters": Maker("沃特世", "Waters", "美国"),
    "malvern": Maker("马尔文帕纳科", "Malvern Panalytical", "英国"),
    "netzsch": Maker("耐驰", "NETZSCH", "德国"),
    "instron": Maker("英斯特朗", "Instron", "美国"),
    "keysight": Maker("是德科技", "Keysight Technologies", "美国"),
    "beckman": Maker("贝克曼库尔特", "Beckman Coulter", "美国"),
    "fpi": Maker("聚光科技", "Focused Photonics", "中国"),
    "techcomp": Maker("天美", "Techcomp", "中国"),
    "ciqtek": Maker("国仪量子", "CIQTEK", "中国"),
    "rigaku": Maker("理学", "Rigaku", "日本"),
    "perkin": Maker("珀金埃尔默", "PerkinElmer", "美国"),
    "sciex": Maker("爱博才思", "SCIEX", "美国"),
    "ta": Maker("TA仪器", "TA Instruments", "美国"),
    "leica": Maker("徕卡", "Leica Microsystems", "德国"),
    "olympus": Maker("奥林巴斯", "Olympus", "日本"),
    "nikon": Maker("尼康", "Nikon", "日本"),
    "horiba": Maker("堀场", "HORIBA", "日本"),
    "oxford": Maker("牛津仪器", "Oxford Instruments", "英国"),
    "mts": Maker("美特斯", "MTS Systems", "美国"),
    "zwick": Maker("兹韦克", "ZwickRoell", "德国"),
    "rs": Maker("罗德与施瓦茨", "Rohde & Schwarz", "德国"),
    "tek": Maker("泰克", "Tektronix", "美国"),
    "bd": Maker("碧迪", "BD Biosciences", "美国"),
    "raith": Maker("Raith", "Raith", "德国"),
    "ulvac": Maker("爱发科", "ULVAC", "日本"),
    "naura": Maker("北方华创", "NAURA", "中国"),
    "espec": Maker("爱斯佩克", "ESPEC", "日本"),
    "weiss": Maker("伟思富奇", "Weiss Technik", "德国"),
    "sushi": Maker("苏试试验", "Suzhou Sushi Testing", "中国"),
    "sugon": Maker("中科曙光", "Sugon", "中国"),
    "inspur": Maker("浪潮", "Inspur", "中国"),
    "coherent": Maker("相干", "Coherent", "美国"),
    "spectra": Maker("光谱物理", "Spectra-Physics", "美国"),
    "lightcon": Maker("Light Conversion", "Light Conversion", "立陶宛"),
    "metrohm": Maker("万通", "Metrohm", "瑞士"),
    "hexagon": Maker("海克斯康", "Hexagon", "瑞典"),
    "mitutoyo": Maker("三丰", "Mitutoyo", "日本"),
    "ncs": Maker("钢研纳克", "NCS Testing Technology", "中国"),
    "mettler": Maker("梅特勒-托利多", "Mettler Toledo", "瑞士"),
    "anton": Maker("安东帕", "Anton Paar", "奥地利"),
    "micromeritics": Maker("麦克默瑞提克", "Micromeritics", "美国"),
    "renishaw": Maker("雷尼绍", "Renishaw", "英国"),
    "niumag": Maker("纽迈分析", "Niumag", "中国"),
    "kyky": Maker("中科科仪", "KYKY Technology", "中国"),
    "ceyear": Maker("中电科思仪", "Ceyear", "中国"),
    "sartorius": Maker("赛多利斯", "Sartorius", "德国"),
    "biorad": Maker("伯乐", "Bio-Rad", "美国"),
    "roche": Maker("罗氏", "Roche", "瑞士"),
    "suss": Maker("苏斯", "SUSS MicroTec", "德国"),
    "qlab": Maker("Q-Lab", "Q-Lab", "美国"),
    "yxlon": Maker("依科视朗", "YXLON", "德国"),
    "unicomp": Maker("日联科技", "Unicomp", "中国"),
    "park": Maker("Park Systems", "Park Systems", "韩国"),
    "elementar": Maker("元素", "Elementar", "德国"),
    "blt": Maker("铂力特", "Bright Laser Technologies", "中国"),
    "eos": Maker("EOS", "EOS", "德国"),
    "picosun": Maker("Picosun", "Picosun", "芬兰"),
    "lenovo": Maker("联想", "Lenovo", "中国"),
    "polytec": Maker("Polytec", "Polytec", "德国"),
    "cytiva": Maker("思拓凡", "Cytiva", "美国"),
    "heka": Maker("HEKA", "HEKA Elektronik", "德国"),
    "moldev": Maker("美谷分子", "Molecular Devices", "美国"),
    "taylor": Maker("泰勒霍普森", "Taylor Hobson", "英国"),
    "zygo": Maker("Zygo", "Zygo", "美国"),
    "visualsonics": Maker("富士VisualSonics", "FUJIFILM VisualSonics", "加拿大"),
    "biologic": Maker("Bio-Logic", "Bio-Logic", "法国"),
    "cem": Maker("CEM", "CEM Corporation", "美国"),
    "atlas": Maker("阿特拉斯", "Atlas Material Testing", "美国"),
}


@dataclass(frozen=True)
class InstrumentKind:
    code: str  # 6-digit classification
    name_zh: str
    name_en: str
    tags: tuple[str, ...]
    value_wan: tuple[int, int]  # 原值 range, 万元
    price_yuan: tuple[int, int]  # hourly machine fee range, entrusted mode
    makers: tuple[tuple[str, tuple[str, ...]], ...]
    specifications: str
    functions: str
    subject: str
    modes: str = "eot"  # e entrusted, o occupy, t technical, r remote
    slot: int = 60


def _k(
    code: str,
    zh: str,
    en: str,
    tags: str,
    value: tuple[int, int],
    price: tuple[int, int],
    makers: str,
    spec: str,
    func: str,
    subject: str,
    modes: str = "eot",
    slot: int = 60,
) -> InstrumentKind:
    """Arguments in order: classification code, names zh/en, tags (space
    separated), 原值 range in 万元, entrusted hourly fee range in 元, makers
    ("maker:model|model;maker:model"), specifications, functions, subjects."""
    parsed = tuple(
        (name, tuple(models.split("|")))
        for name, models in (part.split(":", 1) for part in makers.split(";"))
    )
    for name, _ in parsed:
        assert name in MAKERS, name
    return InstrumentKind(
        code, zh, en, tuple(tags.split()), value, price, parsed, spec, func, subject, modes, slot
    )


KINDS: tuple[InstrumentKind, ...] = (
    # 0101 电子光学
    _k(
        "010101",
        "场发射扫描电子显微镜",
        "Field-emission scanning electron microscope",
        "struct materials semi",
        (180, 650),
        (300, 800),
        "zeiss:GeminiSEM 560|Sigma 300;hitachi:SU8600|Regulus 8230;jeol:JSM-7900F|JSM-IT800;"
        "thermo:Apreo 2|Quattro S;ciqtek:SEM5000;kyky:KYKY-EM8000F",
        "二次电子分辨率 0.8 nm@15 kV、1.2 nm@1 kV；加速电压 0.02–30 kV；放大倍数 12×–2,000,000×；"
        "探针电流 3 pA–20 nA；配备能谱仪（EDS）与背散射电子探头",
        "金属、陶瓷、高分子、半导体等材料表面形貌观察，断口分析，微区元素定性与半定量分析",
        "材料科学；化学；物理学",
        slot=30,
    ),
    _k(
        "010102",
        "透射电子显微镜",
        "Transmission electron microscope",
        "struct materials semi",
        (800, 2000),
        (800, 1500),
        "jeol:JEM-F200|JEM-2100Plus;thermo:Talos F200X|Themis Z;hitachi:HT7800|HF5000",
        "加速电压 80–200 kV；点分辨率 0.19 nm，线分辨率 0.10 nm；STEM-HAADF 分辨率 0.16 nm；"
        "配备双探头能谱仪、CCD 相机及双倾样品台",
        "纳米材料形貌、晶体结构、界面与缺陷表征；选区电子衍射；高分辨成像与元素面分布",
        "材料科学；物理学；化学",
        modes="et",
    ),
    _k(
        "010103",
        "聚焦离子束-扫描电镜双束系统",
        "Focused ion beam / SEM dual-beam system",
        "struct semi",
        (900, 1800),
        (900, 1500),
        "thermo:Helios 5 UX|Scios 2;zeiss:Crossbeam 550;hitachi:Ethos NX5000",
        "电子束分辨率 0.7 nm@15 kV；离子束分辨率 2.5 nm@30 kV；离子束流 1 pA–65 nA；"
        "配备气体注入系统与纳米机械手",
        "透射电镜样品制备、芯片线路修改、截面分析与三维重构",
        "材料科学；微电子学",
        modes="et",
    ),
    _k(
        "010104",
        "电子探针显微分析仪",
        "Electron probe microanalyser",
        "struct materials",
        (500, 900),
        (400, 900),
        "jeol:JXA-8530F Plus|JXA-iHP200F;shimadzu:EPMA-1720HT",
        "配备 5 道波谱仪（WDS）；可测元素 Be–U；二次电子分辨率 3 nm；最大束流 2 μA",
        "矿物、金属、陶瓷中元素定量分析、线扫描及面分布",
        "地质学；材料科学",
        modes="et",
    ),
    # 0102 质谱
    _k(
        "010201",
        "液相色谱-质谱联用仪",
        "Liquid chromatography-tandem mass spectrometer (LC-MS/MS)",
        "ms chem food bio",
        (250, 700),
        (300, 800),
        "sciex:Triple Quad 6500+|QTRAP 6500+;waters:Xevo TQ-XS;agilent:6495C;"
        "shimadzu:LCMS-8060NX;thermo:TSQ Altis Plus",
        "质量范围 m/z 5–2000；正负离子切换 5 ms；多反应监测（MRM）通道 ≥ 4000；"
        "灵敏度：利血平 1 pg 柱上进样信噪比 ≥ 500000:1；配超高效液相色谱系统",
        "农药兽药残留、药物代谢、环境污染物及生物样品中痕量有机物定性定量分析",
        "化学；药学；食品科学；环境科学",
    ),
    _k(
        "010202",
        "高分辨液相色谱-质谱联用仪",
        "High-resolution LC-MS (Orbitrap / Q-TOF)",
        "ms chem bio",
        (400, 900),
        (500, 1200),
        "thermo:Orbitrap Exploris 480|Q Exactive HF-X;bruker:timsTOF Pro 2;"
        "waters:Xevo G2-XS QTof;sciex:ZenoTOF 7600",
        "分辨率 ≥ 240000 FWHM（m/z 200）；质量精度 < 1 ppm（内标）；扫描速度 ≥ 20 Hz；"
        "配纳升液相与电喷雾离子源",
        "蛋白质组学、代谢组学、天然产物及未知物结构鉴定",
        "生物学；化学；药学",
    ),
    _k(
        "010203",
        "气相色谱-质谱联用仪",
        "Gas chromatography-mass spectrometer (GC-MS)",
        "ms chem food water",
        (60, 200),
        (150, 500),
        "agilent:8890-5977B|7000E;shimadzu:GCMS-QP2020 NX|GCMS-TQ8050 NX;thermo:ISQ 7610|TSQ 9610;"
        "fpi:Mars-6500",
        "质量范围 m/z 1.5–1090；EI 灵敏度：1 pg 八氟萘信噪比 ≥ 1500:1；扫描速度 20000 u/s；"
        "配自动进样器、顶空及热脱附进样装置",
        "挥发与半挥发有机物定性定量；VOCs、农药残留、香精香料及材料释放物分析",
        "化学；环境科学；食品科学",
    ),
    _k(
        "010204",
        "电感耦合等离子体质谱仪",
        "Inductively coupled plasma mass spectrometer (ICP-MS)",
        "ms chem water food",
        (120, 350),
        (200, 600),
        "agilent:7900|8900;thermo:iCAP RQ|iCAP TQ;perkin:NexION 2000;shimadzu:ICPMS-2030;"
        "fpi:EXPEC 7000",
        "质量范围 2–260 amu；检出限 Be、In、U < 0.5 ng/L；氧化物比 CeO/Ce < 1.5%；"
        "碰撞/反应池消除多原子干扰；配激光剥蚀进样系统接口",
        "水、土壤、食品、生物及材料中痕量与超痕量元素及同位素比值测定",
        "环境科学；地球化学；食品科学",
    ),
    _k(
        "010205",
        "基质辅助激光解吸电离飞行时间质谱仪",
        "MALDI-TOF mass spectrometer",
        "ms bio",
        (300, 600),
        (300, 800),
        "bruker:rapifleX|autoflex maX;shimadzu:MALDI-8020",
        "激光频率 10 kHz；线性模式质量范围 > 300 kDa；反射模式分辨率 ≥ 40000；质量精度 < 5 ppm",
        "蛋白质、多肽、聚合物分子量测定；微生物鉴定；组织成像",
        "生物学；化学",
    ),
    # 0103 X射线
    _k(
        "010301",
        "X射线衍射仪",
        "X-ray diffractometer (XRD)",
        "struct materials chem",
        (80, 300),
        (150, 400),
        "bruker:D8 ADVANCE|D8 DISCOVER;rigaku:SmartLab|MiniFlex 600;malvern:Empyrean|Aeris",
        "Cu 靶，最大功率 3 kW；测角仪半径 ≥ 240 mm，角度重现性 ±0.0001°；2θ 范围 −110°–168°；"
        "配一维阵列探测器、高温附件（至 1200 ℃）及薄膜掠入射附件",
        "物相定性定量分析、晶粒尺寸与结晶度、残余应力、织构及薄膜结构分析",
        "材料科学；化学；地质学",
        slot=30,
    ),
    _k(
        "010302",
        "X射线光电子能谱仪",
        "X-ray photoelectron spectrometer (XPS)",
        "struct materials semi",
        (400, 900),
        (500, 1000),
        "thermo:ESCALAB Xi+|Nexsa G2;shimadzu:AXIS Supra+;ulvac:PHI VersaProbe 4",
        "单色化 Al Kα 源；能量分辨率 ≤ 0.45 eV（Ag 3d5/2）；最小分析区域 10 μm；"
        "配氩团簇离子枪深度剖析、紫外光电子能谱（UPS）",
        "材料表面元素组成、化学态及价带分析；深度剖析；薄膜与催化剂表面表征",
        "材料科学；化学；物理学",
        modes="et",
    ),
    _k(
        "010303",
        "X射线荧光光谱仪",
        "X-ray fluorescence spectrometer (XRF)",
        "chem materials",
        (120, 300),
        (150, 400),
        "malvern:Zetium|Axios FAST;rigaku:ZSX Primus IV;bruker:S8 TIGER",
        "波长色散型，Rh 靶 4 kW；元素范围 Be–Am；含量范围 ppm–100%；配 48 位自动进样器",
        "金属、矿石、水泥、陶瓷、土壤中主次量元素快速无损定量分析",
        "材料科学；地质学",
    ),
    _k(
        "010304",
        "X射线三维显微镜",
        "X-ray 3D microscope (micro-CT)",
        "struct materials bio",
        (500, 1200),
        (400, 1000),
        "zeiss:Xradia 620 Versa|Xradia 520 Versa;bruker:SkyScan 1272",
        "空间分辨率 0.5 μm，最小体素 40 nm；管电压 30–160 kV；最大样品 300 mm；"
        "支持原位拉伸与温控样品台",
        "材料内部孔隙、裂纹、夹杂三维无损成像；电池、复合材料与生物组织结构分析",
        "材料科学；生物学；地质学",
        modes="et",
    ),
    # 0104 光谱
    _k(
        "010401",
        "傅里叶变换红外光谱仪",
        "Fourier-transform infrared spectrometer (FTIR)",
        "chem materials",
        (40, 150),
        (100, 300),
        "thermo:Nicolet iS50|Nicolet iS20;bruker:INVENIO R|VERTEX 80v;perkin:Spectrum 3;"
        "shimadzu:IRTracer-100",
        "光谱范围 7800–350 cm⁻¹（可扩展至远红外）；分辨率 0.09 cm⁻¹；信噪比 ≥ 55000:1；"
        "配 ATR、漫反射附件及红外显微镜",
        "有机与高分子材料官能团定性、未知物鉴定、薄膜与微区红外分析",
        "化学；材料科学",
        slot=30,
    ),
    _k(
        "010402",
        "激光共聚焦拉曼光谱仪",
        "Confocal Raman spectrometer",
        "chem materials semi",
        (100, 300),
        (150, 400),
        "horiba:LabRAM HR Evolution|LabRAM Odyssey;renishaw:inVia Qontor;thermo:DXR3xi",
        "激光波长 325/532/633/785 nm；光谱分辨率 ≤ 0.35 cm⁻¹；空间分辨率横向 < 0.5 μm；"
        "配自动成像平台与低温/高温样品台",
        "碳材料、半导体、矿物、聚合物的分子结构与应力分析，拉曼成像",
        "化学；材料科学；物理学",
        slot=30,
    ),
    _k(
        "010403",
        "紫外可见近红外分光光度计",
        "UV-Vis-NIR spectrophotometer",
        "chem materials optics",
        (40, 120),
        (100, 250),
        "shimadzu:UV-3600i Plus|SolidSpec-3700i;perkin:LAMBDA 1050+;agilent:Cary 5000",
        "波长范围 175–3300 nm；分辨率 0.1 nm；杂散光 < 0.00005%T（220 nm）；"
        "配 150 mm 积分球与变角反射附件",
        "溶液吸光度、薄膜透反射率、光学带隙及颜色测定",
        "化学；材料科学；光学",
        slot=30,
    ),
    _k(
        "010404",
        "电感耦合等离子体发射光谱仪",
        "ICP optical emission spectrometer (ICP-OES)",
        "chem water food materials",
        (60, 150),
        (150, 350),
        "agilent:5800 ICP-OES|5110 ICP-OES;thermo:iCAP PRO XP;perkin:Avio 550 Max;ncs:Plasma 3000",
        "波长范围 167–785 nm；垂直双向观测；多数元素检出限 < 1 μg/L；线性范围 6 个数量级；"
        "配自动进样器及耐氢氟酸进样系统",
        "金属、合金、土壤、水及食品中多元素同时定量分析",
        "化学；环境科学；材料科学",
    ),
    _k(
        "010405",
        "稳态瞬态荧光光谱仪",
        "Steady-state and transient fluorescence spectrometer",
        "chem optics bio",
        (100, 300),
        (150, 400),
        "horiba:FluoroMax-Plus|Fluorolog-QM;hitachi:F-7100;perkin:FL 8500",
        "激发波长 200–900 nm；灵敏度 水拉曼峰信噪比 ≥ 30000:1；荧光寿命 25 ps–10 s；"
        "配积分球测量绝对量子产率",
        "荧光发射/激发光谱、量子产率、荧光寿命及上转换发光测定",
        "化学；物理学；生物学",
    ),
    _k(
        "010406",
        "火花直读光谱仪",
        "Spark optical emission spectrometer",
        "materials mech chem",
        (50, 150),
        (100, 250),
        "ncs:LabSpark 750;oxford:Foundry-Master Smart;thermo:ARL iSpark",
        "波长范围 120–800 nm；铁、铝、铜、镍、钛等多基体；C、P、S、N 检出限 ≤ 5 ppm",
        "钢铁及有色金属牌号鉴别与化学成分快速分析",
        "冶金；材料科学",
        slot=30,
    ),
    # 0105 色谱
    _k(
        "010501",
        "高效液相色谱仪",
        "High-performance liquid chromatograph (HPLC)",
        "chem food bio",
        (30, 90),
        (100, 300),
        "agilent:1260 Infinity II|1290 Infinity II;waters:ACQUITY Arc|e2695;"
        "shimadzu:LC-2030C|Nexera XR;thermo:Vanquish Core;techcomp:LC3200",
        "四元梯度泵，流速 0.001–10 mL/min，耐压 60 MPa；二极管阵列检测器 190–950 nm；"
        "示差与荧光检测器；自动进样器 0.1–100 μL，柱温箱 4–100 ℃",
        "药物、食品添加剂、天然产物、有机合成产物的分离与定量分析",
        "化学；药学；食品科学",
    ),
    _k(
        "010502",
        "超高效液相色谱仪",
        "Ultra-high-performance liquid chromatograph (UHPLC)",
        "chem food bio",
        (50, 120),
        (150, 350),
        "waters:ACQUITY UPLC H-Class PLUS;agilent:1290 Infinity II;thermo:Vanquish Horizon;"
        "shimadzu:Nexera X3",
        "系统耐压 130 MPa；延迟体积 < 100 μL；PDA 检测器 190–800 nm；进样精度 RSD < 0.25%",
        "复杂样品快速高分离度分析，药物杂质谱与中药指纹图谱",
        "药学；化学",
    ),
    _k(
        "010503",
        "气相色谱仪",
        "Gas chromatograph (GC)",
        "chem water food",
        (30, 80),
        (100, 250),
        "agilent:8890|Intuvo 9000;shimadzu:GC-2030;thermo:TRACE 1610;techcomp:GC7980",
        "柱温室 室温+4 ℃–450 ℃；电子压力控制精度 0.001 psi；FID 检出限 < 1.2 pg C/s；"
        "配 ECD、FPD、TCD 检测器及顶空进样器",
        "气体、溶剂残留、脂肪酸、农药及石化产品组分分析",
        "化学；环境科学；食品科学",
        slot=30,
    ),
    _k(
        "010504",
        "离子色谱仪",
        "Ion chromatograph (IC)",
        "chem water food",
        (30, 80),
        (100, 250),
        "thermo:Dionex ICS-6000|Dionex Integrion;metrohm:930 Compact IC Flex;shimadzu:HIC-ESP",
        "淋洗液自动发生，KOH 浓度 0.1–100 mmol/L；电导检测器噪声 < 0.2 nS；"
        "配安培检测器与自动进样器",
        "水、大气颗粒物、食品中阴阳离子、有机酸及糖类分析",
        "环境科学；化学；食品科学",
        slot=30,
    ),
    _k(
        "010505",
        "凝胶渗透色谱仪",
        "Gel permeation chromatograph (GPC)",
        "chem materials",
        (50, 150),
        (150, 350),
        "waters:APC|Breeze 2;agilent:PL-GPC 220;malvern:OMNISEC",
        "示差折光、多角度激光光散射及黏度三检测；高温型工作温度至 220 ℃；分子量范围 10²–10⁷ g/mol",
        "聚合物分子量及分子量分布、支化度测定",
        "高分子科学；化学",
    ),
    # 0106 波谱
    _k(
        "010601",
        "核磁共振波谱仪",
        "Nuclear magnetic resonance spectrometer (NMR)",
        "nmr chem bio",
        (300, 1500),
        (300, 1000),
        "bruker:AVANCE NEO 600|AVANCE NEO 400|AVANCE III HD 500;jeol:JNM-ECZ600R|JNM-ECZ400S",
        "磁场强度 400–600 MHz；超低温探头 ¹H 灵敏度 ≥ 6000:1；变温范围 −150–+150 ℃；"
        "配固体魔角旋转探头与 60 位自动进样器",
        "有机小分子结构鉴定、高分子组成、蛋白质结构及固体材料局域结构分析",
        "化学；生物学；药学",
    ),
    _k(
        "010602",
        "电子顺磁共振波谱仪",
        "Electron paramagnetic resonance spectrometer (EPR)",
        "nmr chem materials",
        (150, 400),
        (200, 600),
        "bruker:EMXplus|ELEXSYS E580;ciqtek:EPR200-Plus|EPR100",
        "X 波段，灵敏度 ≤ 1×10⁹ spins/G；磁场 −50–14500 G；变温 4–700 K；配原位光照附件",
        "自由基、过渡金属离子、缺陷及催化反应中间体检测",
        "化学；物理学；材料科学",
    ),
    _k(
        "010603",
        "低场核磁共振分析仪",
        "Low-field NMR analyser",
        "nmr materials food",
        (40, 120),
        (100, 250),
        "niumag:MesoMR23-060H-I|MacroMR12-150H-I;bruker:minispec mq20",
        "磁场强度 0.5 T，频率 21 MHz；探头直径 25–60 mm；T1、T2 弛豫谱及 MRI 成像",
        "岩心孔隙度、食品水分状态、聚合物交联密度测定",
        "石油地质；食品科学",
    ),
    # 0107 电化学
    _k(
        "010701",
        "多通道电化学工作站",
        "Multichannel electrochemical workstation",
        "chem materials",
        (40, 100),
        (80, 200),
        "metrohm:Autolab PGSTAT302N|Multi Autolab M204;biologic:VMP-300",
        "电位范围 ±10 V；电流分辨率 30 fA；阻抗频率 10 μHz–1 MHz；16 通道独立恒电位仪",
        "电池与电催化材料循环伏安、交流阻抗、充放电及腐蚀测试",
        "化学；材料科学",
    ),
    # 0108 显微镜
    _k(
        "010801",
        "激光共聚焦显微镜",
        "Confocal laser scanning microscope",
        "bio optics",
        (200, 700),
        (200, 500),
        "zeiss:LSM 980|LSM 900;leica:STELLARIS 8|STELLARIS 5;nikon:AX R;olympus:FV4000",
        "激光器 405/488/561/640 nm；高灵敏 GaAsP 探测器；扫描速度 8 kHz 共振扫描；"
        "Airyscan 超分辨 120 nm；配活细胞培养系统",
        "细胞与组织荧光成像、三维重构、活细胞动态观察、共定位与 FRAP 分析",
        "生物学；医学",
        slot=30,
    ),
    _k(
        "010802",
        "原子力显微镜",
        "Atomic force microscope (AFM)",
        "struct materials semi",
        (150, 400),
        (200, 500),
        "bruker:Dimension Icon|Dimension FastScan;oxford:Cypher ES|MFP-3D Origin+;park:NX10",
        "XY 扫描范围 90 μm，Z 向 10 μm；噪声 < 30 pm；轻敲、接触、PeakForce、KPFM、"
        "导电AFM、压电力模式",
        "纳米级表面形貌与粗糙度，力学、电学、磁学性能表征",
        "材料科学；物理学；生物学",
        slot=30,
    ),
    _k(
        "010803",
        "超分辨显微成像系统",
        "Super-resolution microscope",
        "bio optics",
        (400, 900),
        (300, 800),
        "nikon:N-SIM S|N-STORM;zeiss:Elyra 7;leica:STELLARIS 8 STED",
        "横向分辨率 ≤ 20 nm（STORM）/ 115 nm（SIM）；激光 405–647 nm；EMCCD/sCMOS 相机",
        "亚细胞结构、蛋白定位与分子相互作用的纳米尺度成像",
        "生物学；医学",
        modes="et",
    ),
    _k(
        "010804",
        "激光扫描共聚焦三维测量显微镜",
        "Laser scanning 3D measuring microscope",
        "metro materials",
        (60, 150),
        (100, 300),
        "olympus:OLS5100;zeiss:LSM 900 Mat",
        "405 nm 激光；Z 向分辨率 0.5 nm；平面分辨率 0.12 μm；拼接测量范围 100 mm × 100 mm",
        "表面粗糙度、台阶高度、三维形貌及体积测量",
        "机械工程；材料科学",
        slot=30,
    ),
    # 0109 热分析
    _k(
        "010901",
        "差示扫描量热仪",
        "Differential scanning calorimeter (DSC)",
        "thermal materials chem",
        (30, 100),
        (80, 200),
        "netzsch:DSC 214 Polyma|DSC 300 Caliris;ta:DSC 2500|Q2000;mettler:DSC 3+",
        "温度范围 −180–725 ℃；灵敏度 0.2 μW；升温速率 0.001–500 K/min；调制 DSC",
        "熔融、结晶、玻璃化转变、比热容、氧化诱导期及反应热测定",
        "高分子科学；材料科学",
        slot=30,
    ),
    _k(
        "010902",
        "热重分析仪",
        "Thermogravimetric analyser (TGA)",
        "thermal materials chem",
        (30, 100),
        (80, 200),
        "netzsch:TG 209 F1 Libra;ta:TGA 5500|TGA 55;mettler:TGA/DSC 3+",
        "温度范围 室温–1100 ℃；天平分辨率 0.1 μg；配逸出气体红外联用（TG-FTIR）接口",
        "材料热稳定性、组分含量、分解动力学及挥发分测定",
        "材料科学；化学",
        slot=30,
    ),
    _k(
        "010903",
        "同步热分析仪",
        "Simultaneous thermal analyser (STA)",
        "thermal materials",
        (60, 150),
        (100, 250),
        "netzsch:STA 449 F5 Jupiter;mettler:TGA/DSC 3+ HT",
        "温度范围 −150–1600 ℃；TG 分辨率 0.1 μg；DSC 灵敏度 < 1 μW；可与质谱联用",
        "陶瓷、金属、矿物高温相变与失重同步分析",
        "材料科学；冶金",
    ),
    _k(
        "010904",
        "激光导热仪",
        "Laser flash thermal conductivity analyser",
        "thermal materials auto",
        (80, 200),
        (150, 350),
        "netzsch:LFA 467 HyperFlash|LFA 467 HT",
        "热扩散系数 0.01–2000 mm²/s；温度范围 −100–1250 ℃；精度 ±3%；16 位自动进样",
        "金属、陶瓷、复合材料、电池材料导热系数与热扩散系数测定",
        "材料科学；能源",
    ),
    _k(
        "010905",
        "动态热机械分析仪",
        "Dynamic mechanical analyser (DMA)",
        "thermal materials mech",
        (50, 120),
        (100, 250),
        "ta:DMA 850;netzsch:DMA 303 Eplexor;mettler:DMA 1",
        "力值范围 0.0001–18 N；频率 0.01–200 Hz；温度 −150–600 ℃；拉伸、三点弯曲、剪切夹具",
        "高分子与复合材料储能模量、损耗因子及玻璃化转变温度测定",
        "高分子科学；材料科学",
    ),
    # 0110 生化分离
    _k(
        "011001",
        "超速离心机",
        "Ultracentrifuge",
        "bio",
        (60, 150),
        (80, 200),
        "beckman:Optima XPN-100|Optima XE-90;hitachi:CP100NX",
        "最高转速 100000 rpm；最大相对离心力 802000 × g；温控 0–40 ℃；配水平及角转头",
        "细胞器、病毒、外泌体、核酸与蛋白质的分离纯化",
        "生物学；医学",
    ),
    _k(
        "011002",
        "实时荧光定量PCR仪",
        "Real-time quantitative PCR system",
        "bio food",
        (30, 80),
        (80, 200),
        "thermo:QuantStudio 7 Pro|QuantStudio 5;biorad:CFX Opus 96;roche:LightCycler 480 II",
        "96/384 孔；温控精度 ±0.1 ℃；6 色荧光通道；动态范围 10 个数量级",
        "基因表达定量、SNP 分型、病原微生物与转基因成分检测",
        "生物学；医学；食品科学",
    ),
    _k(
        "011003",
        "蛋白纯化系统",
        "Protein purification system",
        "bio",
        (30, 80),
        (80, 200),
        "cytiva:ÄKTA pure 150|ÄKTA avant 25",
        "流速 0.001–150 mL/min；压力 20 MPa；紫外三波长检测；电导与 pH 在线监测；自动馏分收集",
        "重组蛋白、抗体的亲和、离子交换及分子筛层析纯化",
        "生物学；药学",
    ),
    # 0111 环境与农业
    _k(
        "011101",
        "总有机碳分析仪",
        "Total organic carbon analyser (TOC)",
        "water chem",
        (30, 80),
        (80, 200),
        "shimadzu:TOC-L CPH;elementar:vario TOC cube",
        "高温催化燃烧 680 ℃；测定范围 4 μg/L–30000 mg/L；配固体样品燃烧单元与总氮模块",
        "地表水、废水、土壤中总有机碳与总氮测定",
        "环境科学",
    ),
    _k(
        "011102",
        "挥发性有机物在线监测系统",
        "Online VOCs monitoring system",
        "water chem ms",
        (80, 200),
        (150, 350),
        "fpi:AQMS-900VT|GC-955",
        "双通道 GC-FID/MS 检测 C2–C12 共 117 种 VOCs；时间分辨率 1 h；检出限 ≤ 0.1 ppbv",
        "环境空气与园区边界挥发性有机物连续监测与源解析",
        "环境科学",
        modes="er",
    ),
    _k(
        "011103",
        "元素分析仪",
        "Elemental analyser (CHNS/O)",
        "chem materials",
        (40, 100),
        (80, 200),
        "elementar:vario EL cube|UNICUBE;thermo:FlashSmart",
        "CHNS/O 模式切换；测量范围 C 0.001–100%；精度 < 0.1% 绝对偏差；60 位自动进样",
        "有机物、煤、土壤、材料中碳氢氮硫氧含量测定",
        "化学；环境科学",
    ),
    # 0112 样品前处理
    _k(
        "011201",
        "微波消解仪",
        "Microwave digestion system",
        "chem water food",
        (30, 60),
        (100, 200),
        "anton:Multiwave 7000;cem:MARS 6",
        "单模微波 1500 W；最高温度 300 ℃、压力 199 bar；单批 26 罐；实时温压监控",
        "金属、土壤、食品、生物样品酸消解，为 ICP-MS/OES 提供前处理",
        "化学；环境科学",
    ),
    # 0201 力学
    _k(
        "020101",
        "万能材料试验机",
        "Universal testing machine",
        "mech materials auto",
        (50, 200),
        (100, 300),
        "instron:5985|68FM-300;zwick:Z250 AllroundLine|Z100;mts:Criterion C45.305;"
        "shimadzu:AG-X plus 100kN",
        "最大试验力 100–300 kN；力值精度 ±0.5%；横梁速度 0.001–1000 mm/min；"
        "配视频引伸计、高低温环境箱（−70–350 ℃）",
        "金属、塑料、复合材料及零部件拉伸、压缩、弯曲、剪切试验",
        "材料科学；机械工程",
    ),
    _k(
        "020102",
        "电液伺服疲劳试验机",
        "Servo-hydraulic fatigue testing machine",
        "mech materials auto",
        (100, 400),
        (150, 400),
        "instron:8802|8874;mts:Landmark 370.25;shimadzu:Servopulser EHF-L",
        "动态载荷 ±250 kN；频率 0.01–100 Hz；作动器行程 ±75 mm；配高温炉与裂纹扩展软件",
        "材料与构件高低周疲劳、断裂韧性及裂纹扩展速率测试",
        "机械工程；材料科学",
        modes="et",
    ),
    _k(
        "020103",
        "摆锤冲击试验机",
        "Pendulum impact tester",
        "mech materials",
        (30, 80),
        (80, 200),
        "zwick:PKP 750;instron:MPX 750;ncs:NI750C",
        "冲击能量 750 J；冲击速度 5.24 m/s；配示波冲击系统与 −196 ℃ 低温槽",
        "金属夏比 V/U 型缺口冲击吸收能量测定",
        "冶金；材料科学",
        slot=30,
    ),
    _k(
        "020104",
        "纳米压痕仪",
        "Nanoindenter",
        "mech materials struct",
        (150, 350),
        (200, 500),
        "bruker:Hysitron TI 980;anton:UNHT³",
        "最大载荷 10 mN，载荷分辨率 1 nN；位移分辨率 0.006 nm；配原位 SPM 成像与高温台",
        "薄膜、涂层及微区硬度、弹性模量、蠕变与划痕测试",
        "材料科学",
    ),
    _k(
        "020105",
        "旋转流变仪",
        "Rotational rheometer",
        "mech materials chem",
        (50, 150),
        (100, 250),
        "ta:DHR-3|ARES-G2;anton:MCR 302e;malvern:Kinexus ultra+",
        "扭矩范围 0.5 nN·m–200 mN·m；角速度 10⁻⁹–300 rad/s；温度 −40–600 ℃",
        "高分子熔体、涂料、浆料、食品流变性能与黏弹性测定",
        "高分子科学；化学工程",
    ),
    # 0204 声学振动
    _k(
        "020401",
        "扫描式激光测振仪",
        "Scanning laser Doppler vibrometer",
        "mech auto metro",
        (150, 300),
        (200, 400),
        "polytec:PSV-500-3D|PSV-500",
        "频率范围 0–25 MHz；速度分辨率 < 0.01 μm/s；三维扫描测量",
        "结构模态分析、振动噪声诊断、MEMS 器件动态特性测试",
        "机械工程；声学",
    ),
    # 0205 颗粒度
    _k(
        "020501",
        "激光粒度分析仪",
        "Laser diffraction particle size analyser",
        "particle materials chem",
        (30, 80),
        (80, 200),
        "malvern:Mastersizer 3000|Mastersizer 3000+;beckman:LS 13 320 XR;horiba:LA-960V2",
        "测量范围 0.01–3500 μm；准确度 ±0.6%；重复性 < 0.5%；湿法与干法分散系统",
        "粉体、乳液、浆料粒度分布测定",
        "材料科学；化学工程",
        slot=30,
    ),
    _k(
        "020502",
        "纳米粒度及Zeta电位分析仪",
        "Nanoparticle size and zeta potential analyser",
        "particle bio chem",
        (40, 100),
        (80, 200),
        "malvern:Zetasizer Ultra|Zetasizer Pro;horiba:SZ-100V2;anton:Litesizer 500",
        "粒径范围 0.3 nm–10 μm；Zeta 电位范围 ±500 mV；分子量 980 Da–20 MDa",
        "纳米颗粒、胶体、蛋白及脂质体粒径与表面电位测定",
        "化学；药学；材料科学",
        slot=30,
    ),
    _k(
        "020503",
        "比表面及孔径分析仪",
        "Surface area and porosity analyser",
        "particle materials chem",
        (40, 120),
        (100, 250),
        "micromeritics:ASAP 2460|3Flex;anton:Autosorb iQ",
        "比表面积 ≥ 0.0005 m²/g；孔径 0.35–500 nm；3 个分析站；配化学吸附模块",
        "催化剂、吸附剂、电池材料比表面积、孔容及孔径分布测定",
        "材料科学；化学",
    ),
    # 0206 探伤
    _k(
        "020601",
        "工业CT检测系统",
        "Industrial X-ray computed tomography system",
        "mech auto struct",
        (400, 1200),
        (400, 1000),
        "zeiss:METROTOM 1500;yxlon:FF35 CT;unicomp:CX3000",
        "微焦点射线源 225 kV；空间分辨率 ≤ 3 μm；最大检测尺寸 Φ350 mm × 500 mm；"
        "尺寸测量精度 (4.5+L/75) μm",
        "铸件、焊缝、电池及电子器件内部缺陷检测与三维尺寸测量",
        "机械工程；材料科学",
        modes="et",
    ),
    # 0301 长度计量
    _k(
        "030101",
        "三坐标测量机",
        "Coordinate measuring machine (CMM)",
        "metro mech auto",
        (80, 300),
        (150, 400),
        "hexagon:GLOBAL S 9.15.8|Leitz PMM-C;zeiss:PRISMO|CONTURA;mitutoyo:CRYSTA-Apex V",
        "测量范围 900 × 1500 × 800 mm；示值误差 MPE_E = 1.5 + L/333 μm；"
        "配扫描测头与光学测头；恒温间 20 ± 0.5 ℃",
        "精密零部件几何尺寸、形位公差及曲面轮廓测量",
        "机械工程；计量学",
    ),
    _k(
        "030102",
        "圆度圆柱度测量仪",
        "Roundness and cylindricity measuring instrument",
        "metro mech",
        (40, 120),
        (100, 250),
        "taylor:Talyrond 565H;mitutoyo:RA-H5200",
        "主轴回转精度 0.02 μm + 0.0003 μm/mm；测量高度 500 mm；分辨率 0.3 nm",
        "轴承、阀芯、活塞等回转体圆度、圆柱度、同轴度测量",
        "机械工程；计量学",
        slot=30,
    ),
    _k(
        "030103",
        "白光干涉三维表面轮廓仪",
        "White-light interferometric 3D profiler",
        "metro semi optics",
        (80, 200),
        (150, 350),
        "bruker:ContourX-500;zygo:NewView 9000",
        "垂直分辨率 0.01 nm；垂直测量范围 10 mm；横向分辨率 0.35 μm；自动拼接",
        "超光滑表面粗糙度、台阶高度、微结构三维形貌测量",
        "光学工程；微电子学",
        slot=30,
    ),
    # 04 电子测量
    _k(
        "040101",
        "高带宽数字示波器",
        "High-bandwidth digital oscilloscope",
        "elec semi",
        (60, 300),
        (100, 300),
        "keysight:Infiniium MXR608A|UXR0334A;tek:MSO64B|DPO70000SX",
        "模拟带宽 6–33 GHz；采样率 20–128 GSa/s；垂直分辨率 10 bit；存储深度 2 Gpts",
        "高速数字信号完整性、抖动与眼图分析，电源与时序测试",
        "电子科学与技术",
    ),
    _k(
        "040201",
        "频谱分析仪",
        "Signal and spectrum analyser",
        "elec",
        (50, 200),
        (100, 300),
        "keysight:N9040B UXA;rs:FSW43|FSW26;ceyear:4052H",
        "频率范围 2 Hz–44 GHz；分析带宽 1 GHz；显示平均噪声电平 −165 dBm/Hz；相位噪声 −137 dBc/Hz",
        "射频与微波信号频谱、杂散、相位噪声及调制质量分析",
        "电子科学与技术；通信",
    ),
    _k(
        "040202",
        "电磁兼容测试系统",
        "Electromagnetic compatibility (EMC) test system",
        "elec auto env",
        (300, 1500),
        (300, 1200),
        "rs:ESW44 + 3 m 法电波暗室;keysight:N9048B PXE + 10 m 法电波暗室",
        "EMI 接收机 2 Hz–44 GHz；3 m/10 m 法半电波暗室；辐射抗扰度场强 ≥ 30 V/m；"
        "配静电、群脉冲、浪涌及传导抗扰度发生器",
        "电子电气产品、汽车电子零部件传导与辐射发射、抗扰度测试",
        "电子科学与技术",
        modes="e",
    ),
    _k(
        "040401",
        "矢量网络分析仪",
        "Vector network analyser",
        "elec semi",
        (80, 400),
        (150, 400),
        "keysight:PNA-X N5247B|E5080B;rs:ZNA43|ZNB20;ceyear:3672E",
        "频率范围 10 MHz–67 GHz；动态范围 > 130 dB；4 端口；配在片校准件与非线性模块",
        "射频器件、天线、滤波器 S 参数测量与材料介电常数测试",
        "电子科学与技术；通信",
    ),
    _k(
        "040501",
        "半导体参数分析仪",
        "Semiconductor parameter analyser",
        "semi elec",
        (80, 250),
        (150, 350),
        "keysight:B1500A|B1505A;tek:Keithley 4200A-SCS",
        "电流分辨率 0.1 fA；电压 ±210 V（高压模块 3 kV）；C-V 频率 1 kHz–5 MHz；"
        "配 8 英寸半自动探针台",
        "晶体管 I-V、C-V 特性，功率器件动静态参数及可靠性测试",
        "微电子学",
    ),
    # 09 医学科研
    _k(
        "090101",
        "小动物活体成像系统",
        "In vivo small-animal imaging system",
        "bio",
        (200, 500),
        (300, 700),
        "perkin:IVIS Spectrum;bruker:In-Vivo Xtreme II",
        "生物发光与荧光成像；激发滤光片 10 个、发射滤光片 18 个；三维断层重建；气体麻醉系统",
        "肿瘤生长、基因表达、药物分布及感染模型的活体光学成像",
        "医学；生物学",
        modes="et",
    ),
    _k(
        "090102",
        "小动物超声影像系统",
        "High-frequency small-animal ultrasound",
        "bio",
        (150, 350),
        (200, 500),
        "visualsonics:Vevo 3100|Vevo F2",
        "探头频率 15–70 MHz；轴向分辨率 30 μm；帧频 > 300 fps；支持光声成像",
        "心血管功能、肿瘤体积及胚胎发育的无创影像评价",
        "医学；生物学",
        modes="et",
    ),
    _k(
        "090201",
        "膜片钳系统",
        "Patch-clamp electrophysiology system",
        "bio",
        (50, 150),
        (100, 300),
        "heka:EPC 10 USB;moldev:Axopatch 200B|MultiClamp 700B",
        "电流噪声 < 0.1 pA RMS；采样率 200 kHz；配倒置显微镜与防震台",
        "离子通道电流、神经元动作电位记录",
        "神经科学；药理学",
        modes="ot",
    ),
    _k(
        "090301",
        "流式细胞仪",
        "Flow cytometer",
        "bio",
        (100, 400),
        (150, 400),
        "beckman:CytoFLEX S|CytoFLEX LX;bd:FACSCanto II|LSRFortessa;thermo:Attune NxT",
        "激光器 405/488/561/638 nm；荧光通道 13 色；检测速度 30000 events/s；"
        "荧光灵敏度 FITC < 30 MESF",
        "细胞表型、凋亡、周期、增殖及胞内因子多参数分析",
        "医学；免疫学；生物学",
        slot=30,
    ),
    _k(
        "090302",
        "流式细胞分选仪",
        "Fluorescence-activated cell sorter",
        "bio",
        (300, 700),
        (300, 800),
        "bd:FACSAria III|FACSMelody;beckman:MoFlo Astrios EQ",
        "4 激光 18 色；分选速度 25000 events/s；四路分选纯度 > 98%；配生物安全柜",
        "稀有细胞、干细胞及免疫细胞亚群的高纯度分选",
        "医学；免疫学",
        modes="et",
    ),
    _k(
        "090303",
        "活细胞成像系统",
        "Live-cell imaging system",
        "bio",
        (80, 200),
        (100, 300),
        "sartorius:Incucyte SX5;agilent:BioTek Lionheart FX;nikon:BioStation CT",
        "培养箱内长时程成像；相差与三色荧光；自动聚焦；6–384 孔板；时间分辨率 ≥ 15 min",
        "细胞增殖、迁移、凋亡及类器官生长的长时程动态监测",
        "生物学；医学",
    ),
    _k(
        "090304",
        "高内涵成像分析系统",
        "High-content imaging system",
        "bio",
        (200, 450),
        (200, 500),
        "perkin:Operetta CLS;moldev:ImageXpress Micro Confocal",
        "转盘共聚焦；8 色 LED 光源；sCMOS 相机；每小时 ≥ 40 块 96 孔板成像；图像分析软件",
        "药物筛选、细胞表型定量与毒理学评价",
        "药学；生物学",
    ),
    # 12 工艺实验设备
    _k(
        "120101",
        "金属增材制造设备",
        "Metal additive manufacturing system (SLM)",
        "mech materials auto",
        (300, 1000),
        (300, 800),
        "eos:EOS M 290;blt:BLT-S310",
        "成型尺寸 250 × 250 × 325 mm；光纤激光 400–500 W；层厚 20–100 μm；惰性气体保护",
        "钛合金、高温合金、铝合金复杂构件的选区激光熔化成形",
        "机械工程；材料科学",
        modes="et",
    ),
    _k(
        "120201",
        "电子束曝光系统",
        "Electron-beam lithography system",
        "semi",
        (1200, 2000),
        (800, 1500),
        "raith:EBPG 5200|VOYAGER;jeol:JBX-6300FS",
        "加速电压 100 kV；最小线宽 ≤ 8 nm；拼接精度 ≤ 20 nm；套刻精度 ≤ 20 nm；支持 8 英寸晶圆",
        "纳米图形直写、光掩模制作及纳米光学与量子器件加工",
        "微电子学；纳米科学",
        modes="et",
    ),
    _k(
        "120202",
        "磁控溅射镀膜仪",
        "Magnetron sputtering system",
        "semi materials",
        (80, 300),
        (150, 400),
        "ulvac:SIH-450;naura:exiTin H630;kyky:JGP-560",
        "本底真空 5×10⁻⁵ Pa；4 靶共溅射（DC/RF）；基片加热 800 ℃；膜厚均匀性 ±3%（4 英寸）",
        "金属、氧化物、氮化物薄膜及多层膜制备",
        "材料科学；微电子学",
        modes="eot",
    ),
    _k(
        "120203",
        "电感耦合等离子体刻蚀机",
        "Inductively coupled plasma etcher (ICP-RIE)",
        "semi",
        (200, 600),
        (300, 700),
        "oxford:PlasmaPro 100 Cobra;naura:GSE C200",
        "ICP 功率 3 kW；氯基与氟基工艺；刻蚀均匀性 ±3%；晶圆 4–8 英寸；激光终点检测",
        "硅、Ⅲ-Ⅴ族化合物、介质材料的高深宽比干法刻蚀",
        "微电子学",
        modes="eot",
    ),
    _k(
        "120204",
        "紫外光刻机",
        "UV mask aligner",
        "semi",
        (100, 300),
        (150, 400),
        "suss:MA6 Gen4|MA/BA8 Gen4",
        "曝光波长 365/405 nm；分辨率 ≤ 0.8 μm（真空接触）；对准精度 ±0.5 μm；支持背面对准",
        "微纳器件光刻图形转移、MEMS 与微流控芯片制作",
        "微电子学",
        modes="eot",
        slot=30,
    ),
    _k(
        "120205",
        "原子层沉积系统",
        "Atomic layer deposition system (ALD)",
        "semi materials",
        (150, 400),
        (200, 500),
        "picosun:R-200 Advanced;naura:Polaris A630",
        "基片温度 50–500 ℃；8 路前驱体源；等离子增强 ALD；膜厚均匀性 < 1%（8 英寸）",
        "Al₂O₃、HfO₂、TiN 等超薄保形薄膜沉积",
        "微电子学；材料科学",
        modes="eot",
    ),
    _k(
        "120301",
        "高低温湿热试验箱",
        "Temperature and humidity test chamber",
        "env auto elec",
        (30, 120),
        (100, 200),
        "espec:PL-3KPH|AR-1000;weiss:WK3-1000/70",
        "温度范围 −70–180 ℃；湿度 10–98% RH；温变速率 5 ℃/min；内容积 1000 L",
        "电子电器、汽车零部件高低温、湿热及温度循环可靠性试验",
        "可靠性工程",
        modes="eo",
    ),
    _k(
        "120302",
        "电动振动试验系统",
        "Electrodynamic vibration test system",
        "env auto mech",
        (60, 250),
        (150, 350),
        "sushi:DC-6000-60|DC-3200-36",
        "额定推力 30–60 kN；频率范围 5–3000 Hz；最大位移 51 mm；配水平滑台与三综合环境箱",
        "正弦、随机、冲击振动及温湿度振动三综合试验",
        "可靠性工程；机械工程",
        modes="eo",
    ),
    _k(
        "120303",
        "盐雾腐蚀试验箱",
        "Salt spray corrosion chamber",
        "env materials auto",
        (30, 60),
        (80, 150),
        "qlab:Q-FOG CRH1100;weiss:SC/KWT 1000",
        "中性盐雾、乙酸盐雾、铜加速乙酸盐雾及循环腐蚀；温度 室温–70 ℃；容积 1100 L",
        "金属、涂镀层及零部件耐腐蚀性能评价",
        "材料科学；可靠性工程",
        modes="e",
    ),
    _k(
        "120304",
        "氙灯老化试验箱",
        "Xenon arc weathering chamber",
        "env materials chem",
        (30, 80),
        (80, 150),
        "qlab:Q-SUN Xe-3;atlas:Ci4400",
        "三支 1800 W 氙灯；辐照度 0.35–1.50 W/m²@340 nm；黑板温度 35–110 ℃；喷淋循环",
        "塑料、涂料、纺织品耐光与耐候性能加速老化试验",
        "材料科学",
        modes="e",
    ),
    # 13 计算机
    _k(
        "130101",
        "高性能计算集群",
        "High-performance computing cluster",
        "hpc",
        (300, 2000),
        (100, 500),
        "sugon:TC6600|ParaStor;inspur:NF5468M6 集群|NF5280M6 集群;lenovo:ThinkSystem SR650 集群",
        "计算节点 ≥ 200 个，CPU 核数 ≥ 12000；GPU 节点 A800 × 32；"
        "双精度峰值 ≥ 800 TFlops；并行存储 2 PB；100 Gb/s InfiniBand 互联",
        "材料计算、计算流体力学、分子动力学及人工智能模型训练",
        "计算科学；材料科学；力学",
        modes="r",
    ),
    # 14 激光器
    _k(
        "140101",
        "飞秒激光器",
        "Femtosecond laser system",
        "optics semi",
        (200, 800),
        (300, 800),
        "coherent:Astrella|Monaco 1035;spectra:Solstice Ace|Spitfire Ace;lightcon:PHAROS PH2",
        "中心波长 800/1030 nm；脉宽 < 35 fs–290 fs；单脉冲能量 7 mJ；重复频率 1 kHz–1 MHz；"
        "配光学参量放大器（OPA）",
        "超快光谱、激光微纳加工、非线性光学与阿秒科学实验",
        "光学；物理学",
        modes="eot",
    ),
    _k(
        "140102",
        "可调谐光学参量振荡器",
        "Tunable optical parametric oscillator",
        "optics",
        (100, 300),
        (200, 500),
        "lightcon:ORPHEUS-HP;spectra:Inspire",
        "调谐范围 210–2600 nm；脉宽 < 300 fs；转换效率 > 15%",
        "泵浦-探测光谱、多光子显微及非线性光学研究",
        "光学；物理学",
        modes="et",
    ),
)
KIND_BY_CODE = {k.code: k for k in KINDS}


# --- instrument generation ------------------------------------------------------------

_STATUS_WEIGHTS = (
    ("normal", 80),
    ("standby", 6),
    ("remote", 2),
    ("occasional_fault", 5),
    ("frequent_fault", 1),
    ("awaiting_repair", 4),
    ("awaiting_disposal", 2),
)
# The alliance's 1,705 instruments are the ones its members share with firms.
_SHARING_WEIGHTS = (("external", 100),)
# ((weekdays, from, until), weight)
_OPENING = (
    (("12345", time(8, 30), time(17, 30)), 68),
    (("12345", time(8, 30), time(21, 0)), 12),
    (("1234567", time(8, 0), time(22, 0)), 8),
    (("123456", time(9, 0), time(17, 0)), 12),
)
_BUILDINGS = {
    "university": (
        "分析测试中心",
        "材料学院实验楼",
        "理化楼",
        "生命科学楼",
        "综合实验楼",
        "机械工程学院实验中心",
        "电子信息楼",
    ),
    "institute": (
        "公共技术服务中心",
        "分析测试平台",
        "1号科研楼",
        "2号科研楼",
        "洁净间大楼",
        "中试基地",
    ),
    "testing_body": ("检测大楼", "理化实验室", "可靠性实验室", "电磁兼容实验室", "化学实验楼"),
    "engineering_centre": ("研发中心", "中试车间", "检测实验室", "工程中心大楼"),
}
_SHARING_RULES = (
    "校外用户须提前在平台预约；自主上机须通过培训考核；样品须提供安全数据说明（MSDS）。",
    "委托测试请送样至仪器所在实验室；危险化学品与生物样品须事先说明；爽约三次暂停预约资格。",
    "预约成功后请按时上机，迟到按预约开始时间计费；超时 30 分钟以上按 1 小时计费。",
)
_SERVICE_CONTENT = (
    "委托测试、机时共享、数据分析",
    "委托测试、技术培训",
    "机时共享、方法开发",
    "委托测试、技术咨询",
)
_INTERNAL_PREFIX = {
    "university": "ZC",
    "institute": "YQ",
    "testing_body": "JC",
    "engineering_centre": "GC",
}


@dataclass(frozen=True)
class GeneratedInstrument:
    provider_key: str
    fields: dict[str, Any]  # instrument columns, as for instruments.services.create_instrument
    prices: dict[str, int]  # service mode -> fen per hour


def _weighted(rng: random.Random, options: Sequence[tuple[Any, int]]) -> Any:
    population, cum_weights = _CUMULATIVE.get(id(options)) or _cumulate(options)
    return rng.choices(population, cum_weights=cum_weights)[0]


_CUMULATIVE: dict[int, tuple[list[Any], list[int]]] = {}


def _cumulate(options: Sequence[tuple[Any, int]]) -> tuple[list[Any], list[int]]:
    """Population and cumulative weights; cached for the module's constant tables."""
    pair = ([o for o, _ in options], list(accumulate(w for _, w in options)))
    if isinstance(options, tuple):
        _CUMULATIVE[id(options)] = pair
    return pair


def _allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder), exactly."""
    whole = sum(weights)
    raw = [total * w / whole for w in weights]
    counts = [int(r) for r in raw]
    order = sorted(range(len(weights)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: total - sum(counts)]:
        counts[i] += 1
    return counts


@cache
def _preferred_kinds(focus: tuple[str, ...]) -> tuple[InstrumentKind, ...]:
    return tuple(k for k in KINDS if set(k.tags) & set(focus))


def _pick_kind(rng: random.Random, focus: tuple[str, ...]) -> InstrumentKind:
    preferred = _preferred_kinds(focus)
    return rng.choice(preferred if preferred and rng.random() < 0.8 else KINDS)


def _price_fen(rng: random.Random, low: int, high: int, factor: float = 1.0) -> int:
    yuan = rng.uniform(low, high) * factor
    yuan = max(100, min(1500, round(yuan / 10) * 10))
    return int(yuan) * 100


def _instrument(
    rng: random.Random, provider: ProviderSpec, kind: InstrumentKind, internal_no: str
) -> GeneratedInstrument:
    maker_key, models = rng.choice(kind.makers)
    maker = MAKERS[maker_key]
    model = rng.choice(models)
    commissioned = date(2008, 1, 1) + timedelta(days=rng.randrange(0, 16 * 365))
    value_yuan = round(rng.uniform(*kind.value_wan) * 10_000, -2)
    region = REGION_BY_CODE[provider.region_code]
    weekdays, open_from, open_until = _weighted(rng, _OPENING)
    slot = kind.slot if rng.random() < 0.8 else 60
    modes = [m for m in kind.modes]
    if "e" not in modes and "r" not in modes:
        modes.append("e")
    chosen: dict[str, int] = {}
    for letter in modes:
        if letter == "e":
            chosen["entrusted"] = _price_fen(rng, *kind.price_yuan)
        elif letter == "r":
            chosen["remote"] = _price_fen(rng, *kind.price_yuan, factor=0.8)
        elif rng.random() < 0.6:
            mode = "occupy" if letter == "o" else "technical"
            chosen[mode] = _price_fen(rng, *kind.price_yuan, factor=0.7 if letter == "o" else 0.85)
    source = _weighted(rng, (("purchased", 95), ("built", 3), ("donated", 2)))
    building = rng.choice(_BUILDINGS[provider.provider_type])
    fields: dict[str, Any] = {
        "internal_no": internal_no.format(year=commissioned.year),
        "name_zh": kind.name_zh,
        "name_en": kind.name_en,
        "classification_code": kind.code,
        "model": model,
        "manufacturer": maker.label,
        "country_of_origin": maker.country,
        "source": source,
        "original_value_fen": int(value_yuan) * 100,
        "commissioned_on": commissioned,
        "location": f"{building} {rng.randrange(1, 7)}{rng.randrange(1, 30):02d}室",
        "contact_name": person_name(rng),
        "contact_phone": phone(rng, region.area_code),
        "specifications": kind.specifications,
        "functions": kind.functions,
        "subject_areas": kind.subject,
        "service_content": rng.choice(_SERVICE_CONTENT),
        "sharing_rules": rng.choice(_SHARING_RULES),
        "status": _weighted(rng, _STATUS_WEIGHTS),
        "sharing_mode": _weighted(rng, _SHARING_WEIGHTS),
        "slot_minutes": slot,
        "min_minutes": slot if rng.random() < 0.5 else 60,
        "max_minutes": rng.choice((240, 480, 480)),
        "open_weekdays": weekdays,
        "open_from": open_from,
        "open_until": open_until,
        "max_days_ahead": rng.choice((30, 60, 60, 90)),
        "approval_required": rng.random() < 0.85,
        "cancel_cutoff_hours": rng.choice((24, 24, 48)),
        "cancel_fee_percent": rng.choice((0, 0, 0, 20, 50)),
        "overrun_tolerance_minutes": 30,
        "no_show_limit": 3,
        "no_show_window_days": 90,
        "max_hours_per_week": rng.choice((None, None, 20, 40)),
        "max_future_bookings": rng.choice((None, None, 5, 10)),
    }
    return GeneratedInstrument(provider.key, fields, chosen)


def instruments(
    provider_specs: Sequence[ProviderSpec], total: int = REALISTIC_INSTRUMENTS
) -> Iterator[GeneratedInstrument]:
    """`total` instruments: the 1,705 of the alliance first (in proportion to
    each institution's weight and along its focus), then as many more of the
    same kinds as asked, spread over the same institutions. Any prefix of the
    sequence is the same whatever `total` is."""
    rng = random.Random(f"{SEED}-instruments")
    counts = _allocate(REALISTIC_INSTRUMENTS, [p.weight for p in provider_specs])
    produced = 0
    for provider, count in zip(provider_specs, counts, strict=True):
        prefix = _INTERNAL_PREFIX[provider.provider_type]
        for seq in range(1, count + 1):
            if produced >= total:
                return
            kind = (
                KIND_BY_CODE[provider.must_have[seq - 1]]
                if seq <= len(provider.must_have)
                else _pick_kind(rng, provider.focus)
            )
            yield _instrument(rng, provider, kind, f"{prefix}{{year}}{seq:04d}")
            produced += 1
    extra = random.Random(f"{SEED}-instruments-extra")
    weights = [p.weight for p in provider_specs]
    seq = 0
    while produced < total:
        seq += 1
        provider = extra.choices(provider_specs, weights=weights)[0]
        kind = _pick_kind(extra, provider.focus)
        yield _instrument(extra, provider, kind, f"BM{seq:07d}")
        produced += 1


# --- testing services -----------------------------------------------------------------


@dataclass(frozen=True)
class ServiceTemplate:
    name_zh: str
    name_en: str
    category: str
    standard: str
    price_yuan: tuple[int, int]
    turnaround: tuple[int, int]
    tags: tuple[str, ...]
    sample: str
    instrument_prefix: str = ""  # subcategory of the instrument that does it


def _s(
    zh: str,
    en: str,
    category: str,
    standard: str,
    price: tuple[int, int],
    turnaround: tuple[int, int],
    tags: str,
    sample: str,
    prefix: str = "",
) -> ServiceTemplate:
    return ServiceTemplate(
        zh, en, category, standard, price, turnaround, tuple(tags.split()), sample, prefix
    )


SERVICE_TEMPLATES: tuple[ServiceTemplate, ...] = (
    # materials
    _s(
        "金属材料室温拉伸试验",
        "Room-temperature tensile test of metallic materials",
        "materials",
        "GB/T 228.1-2021",
        (150, 400),
        (3, 7),
        "mech materials auto",
        "标准试样或按图加工，每组 3 件",
        "0201",
    ),
    _s(
        "金属材料夏比摆锤冲击试验",
        "Charpy pendulum impact test of metals",
        "materials",
        "GB/T 229-2020",
        (100, 300),
        (3, 7),
        "mech materials",
        "V 型缺口标准试样，每组 3 件",
        "0201",
    ),
    _s(
        "金属材料维氏硬度试验",
        "Vickers hardness test of metals",
        "materials",
        "GB/T 4340.1-2009",
        (100, 200),
        (2, 5),
        "mech materials",
        "试样表面抛光，厚度 ≥ 1 mm",
    ),
    _s(
        "金属材料轴向力控制疲劳试验",
        "Axial force-controlled fatigue test of metals",
        "materials",
        "GB/T 3075-2021",
        (2000, 5000),
        (10, 20),
        "mech materials auto",
        "按标准加工疲劳试样，每组 ≥ 8 件",
        "0201",
    ),
    _s(
        "塑料拉伸性能测定",
        "Tensile properties of plastics",
        "materials",
        "GB/T 1040.2-2022",
        (150, 300),
        (3, 7),
        "mech materials chem",
        "1A 型哑铃试样 5 件",
        "0201",
    ),
    _s(
        "塑料熔体质量流动速率测定",
        "Melt mass-flow rate of plastics",
        "materials",
        "GB/T 3682.1-2018",
        (100, 200),
        (3, 5),
        "chem materials",
        "颗粒或粉料 50 g",
    ),
    _s(
        "材料导热系数测定（激光闪射法）",
        "Thermal diffusivity by laser flash",
        "materials",
        "GB/T 22588-2008",
        (500, 1200),
        (5, 10),
        "thermal materials auto",
        "Φ12.7 mm × 1–3 mm 圆片 3 片",
        "0109",
    ),
    _s(
        "差示扫描量热（DSC）熔融与结晶分析",
        "DSC melting and crystallisation analysis",
        "materials",
        "GB/T 19466.3-2004",
        (200, 500),
        (3, 7),
        "thermal chem materials",
        "固体或粉末 10 mg",
        "0109",
    ),
    _s(
        "热重（TGA）热稳定性分析",
        "TGA thermal stability analysis",
        "materials",
        "GB/T 27761-2011",
        (200, 500),
        (3, 7),
        "thermal chem materials",
        "样品 20 mg",
        "0109",
    ),
    _s(
        "高分子材料动态热机械分析",
        "Dynamic mechanical analysis of polymers",
        "materials",
        "GB/T 33061.1-2016",
        (400, 900),
        (5, 10),
        "thermal materials",
        "长条试样 3 件",
        "0109",
    ),
    # structure
    _s(
        "扫描电镜形貌分析",
        "SEM morphology analysis",
        "structure",
        "JY/T 0584-2020",
        (300, 800),
        (3, 7),
        "struct materials semi",
        "块体 ≤ 10 mm × 10 mm × 5 mm 或粉末 0.1 g",
        "0101",
    ),
    _s(
        "能谱（EDS）微区成分分析",
        "EDS micro-area composition analysis",
        "structure",
        "GB/T 17359-2012",
        (300, 600),
        (3, 7),
        "struct materials",
        "导电或喷金处理的块体、粉末样品",
        "0101",
    ),
    _s(
        "透射电镜微观结构表征",
        "TEM microstructure characterisation",
        "structure",
        "JY/T 0581-2020",
        (1500, 5000),
        (7, 15),
        "struct materials semi",
        "粉末分散液或已制备的 TEM 薄片",
        "0101",
    ),
    _s(
        "X射线衍射物相分析",
        "XRD phase analysis",
        "structure",
        "JY/T 0587-2020",
        (200, 500),
        (3, 7),
        "struct materials chem",
        "粉末 ≥ 0.5 g 或平整块体 ≤ 20 mm × 20 mm",
        "0103",
    ),
    _s(
        "X射线光电子能谱（XPS）表面分析",
        "XPS surface chemical analysis",
        "structure",
        "GB/T 19500-2004",
        (800, 2500),
        (5, 10),
        "struct semi materials",
        "干燥无磁块体或粉末，尺寸 ≤ 10 mm",
        "0103",
    ),
    _s(
        "比表面积及孔径分布测定",
        "BET surface area and pore size distribution",
        "structure",
        "GB/T 19587-2017",
        (300, 800),
        (5, 10),
        "particle materials chem",
        "粉末 ≥ 0.5 g，提供脱气温度",
        "0205",
    ),
    _s(
        "激光粒度分布测定",
        "Particle size distribution by laser diffraction",
        "structure",
        "GB/T 19077-2016",
        (150, 400),
        (3, 5),
        "particle materials chem",
        "粉末 5 g 或分散液 50 mL",
        "0205",
    ),
    _s(
        "原子力显微镜表面粗糙度测定",
        "AFM surface roughness measurement",
        "structure",
        "GB/T 31227-2014",
        (400, 1000),
        (5, 10),
        "struct semi",
        "平整样品 ≤ 15 mm × 15 mm",
        "0108",
    ),
    _s(
        "金相组织检验",
        "Metallographic examination",
        "structure",
        "GB/T 13298-2015",
        (200, 500),
        (3, 7),
        "materials mech auto",
        "截取试样并注明检验面",
    ),
    _s(
        "工业CT内部缺陷检测",
        "Industrial CT inspection of internal defects",
        "structure",
        "GB/T 29070-2012",
        (1500, 5000),
        (5, 10),
        "mech auto struct",
        "零件尺寸 ≤ Φ300 mm × 400 mm",
        "0206",
    ),
    # chemical
    _s(
        "材料成分分析（ICP-OES）",
        "Elemental composition by ICP-OES",
        "chemical",
        "GB/T 20975.25-2020",
        (200, 600),
        (3, 7),
        "chem materials",
        "屑状或块状样品 5 g",
        "0104",
    ),
    _s(
        "钢铁化学成分分析（火花直读光谱）",
        "Steel composition by spark OES",
        "chemical",
        "GB/T 4336-2016",
        (150, 350),
        (2, 5),
        "materials mech chem",
        "块状样品直径 ≥ 30 mm，厚度 ≥ 5 mm",
        "0104",
    ),
    _s(
        "有机物结构鉴定（核磁共振 ¹H/¹³C）",
        "Structure elucidation by NMR (¹H/¹³C)",
        "chemical",
        "JY/T 0578-2020",
        (200, 800),
        (3, 7),
        "nmr chem bio",
        "样品 10–20 mg，注明溶剂",
        "0106",
    ),
    _s(
        "红外光谱定性分析",
        "Qualitative infrared spectroscopy",
        "chemical",
        "GB/T 6040-2019",
        (100, 300),
        (2, 5),
        "chem materials",
        "固体 0.1 g 或液体 1 mL",
        "0104",
    ),
    _s(
        "电子电气产品有害物质（RoHS）检测",
        "Restricted substances (RoHS) in electrical products",
        "chemical",
        "GB/T 39560.1-2020",
        (500, 1500),
        (5, 10),
        "chem elec",
        "均质材料 ≥ 10 g",
        "0103",
    ),
    _s(
        "高分子分子量及分布测定（GPC）",
        "Polymer molecular weight by GPC",
        "chemical",
        "GB/T 21863-2008",
        (300, 700),
        (5, 10),
        "chem materials",
        "样品 0.1 g，注明溶剂",
        "0105",
    ),
    _s(
        "未知有机物定性分析（GC-MS）",
        "Identification of unknown organics by GC-MS",
        "chemical",
        "JY/T 0574-2020",
        (500, 2000),
        (5, 10),
        "ms chem",
        "液体 5 mL 或固体 5 g",
        "0102",
    ),
    _s(
        "药品有关物质测定（HPLC）",
        "Related substances of drugs by HPLC",
        "biomedical",
        "《中国药典》2020年版四部通则0512",
        (500, 1500),
        (5, 10),
        "chem bio",
        "原料药 1 g 并提供对照品",
        "0105",
    ),
    # environment
    _s(
        "水质重金属检测（ICP-MS）",
        "Heavy metals in water by ICP-MS",
        "environment",
        "HJ 700-2014",
        (300, 1200),
        (5, 10),
        "water chem ms",
        "水样 500 mL，硝酸固定",
        "0102",
    ),
    _s(
        "水质化学需氧量测定",
        "Chemical oxygen demand of water",
        "environment",
        "HJ 828-2017",
        (100, 200),
        (3, 5),
        "water chem",
        "水样 250 mL，硫酸固定",
    ),
    _s(
        "环境空气挥发性有机物检测",
        "Volatile organic compounds in ambient air",
        "environment",
        "HJ 644-2013",
        (600, 2000),
        (7, 12),
        "water ms chem",
        "吸附管采样，4 ℃ 避光保存",
        "0102",
    ),
    _s(
        "土壤重金属检测",
        "Heavy metals in soil",
        "environment",
        "HJ 803-2016",
        (400, 1200),
        (7, 12),
        "water chem ms",
        "风干土样 500 g",
        "0102",
    ),
    _s(
        "土壤半挥发性有机物检测",
        "Semi-volatile organics in soil",
        "environment",
        "HJ 834-2017",
        (800, 2500),
        (10, 15),
        "water ms chem",
        "新鲜土样 500 g，4 ℃ 保存",
        "0102",
    ),
    _s(
        "室内空气甲醛及 TVOC 检测",
        "Formaldehyde and TVOC in indoor air",
        "environment",
        "GB/T 18883-2022",
        (300, 800),
        (5, 7),
        "water chem",
        "现场采样",
    ),
    _s(
        "水质总有机碳测定",
        "Total organic carbon of water",
        "environment",
        "HJ 501-2009",
        (100, 300),
        (3, 5),
        "water chem",
        "水样 100 mL",
        "0111",
    ),
    # food
    _s(
        "食品中农药残留检测（GC-MS/MS）",
        "Pesticide residues in food by GC-MS/MS",
        "food",
        "GB 23200.113-2018",
        (800, 2500),
        (5, 10),
        "food ms chem",
        "可食部分 500 g",
        "0102",
    ),
    _s(
        "食品中农药残留检测（LC-MS/MS）",
        "Pesticide residues in food by LC-MS/MS",
        "food",
        "GB 23200.121-2021",
        (800, 2500),
        (5, 10),
        "food ms chem",
        "可食部分 500 g",
        "0102",
    ),
    _s(
        "食品中铅的测定",
        "Lead in food",
        "food",
        "GB 5009.12-2023",
        (150, 300),
        (5, 7),
        "food chem",
        "样品 200 g",
        "0102",
    ),
    _s(
        "食品中镉的测定",
        "Cadmium in food",
        "food",
        "GB 5009.15-2023",
        (150, 300),
        (5, 7),
        "food chem",
        "样品 200 g",
        "0102",
    ),
    _s(
        "食品中蛋白质的测定",
        "Protein in food",
        "food",
        "GB 5009.5-2016",
        (100, 200),
        (3, 5),
        "food chem",
        "样品 100 g",
    ),
    _s(
        "食品中菌落总数测定",
        "Aerobic plate count in food",
        "food",
        "GB 4789.2-2022",
        (100, 200),
        (3, 5),
        "food bio",
        "无菌采样 250 g",
    ),
    _s(
        "食品中苯甲酸、山梨酸和糖精钠的测定",
        "Benzoic acid, sorbic acid and saccharin in food",
        "food",
        "GB 5009.28-2016",
        (200, 500),
        (5, 7),
        "food chem",
        "样品 200 g",
        "0105",
    ),
    _s(
        "食品中黄曲霉毒素B族的测定",
        "Aflatoxins B in food",
        "food",
        "GB 5009.22-2016",
        (300, 800),
        (5, 7),
        "food ms chem",
        "样品 200 g",
        "0102",
    ),
    # electrical
    _s(
        "电磁兼容（EMC）静电放电抗扰度试验",
        "EMC: electrostatic discharge immunity",
        "electrical",
        "GB/T 17626.2-2018",
        (800, 2000),
        (5, 10),
        "elec auto",
        "整机 1 台，附说明书",
        "0402",
    ),
    _s(
        "电磁兼容（EMC）电快速瞬变脉冲群抗扰度试验",
        "EMC: electrical fast transient immunity",
        "electrical",
        "GB/T 17626.4-2018",
        (800, 2000),
        (5, 10),
        "elec",
        "整机 1 台，附说明书",
        "0402",
    ),
    _s(
        "电磁兼容（EMC）浪涌抗扰度试验",
        "EMC: surge immunity",
        "electrical",
        "GB/T 17626.5-2019",
        (800, 2000),
        (5, 10),
        "elec",
        "整机 1 台，附说明书",
        "0402",
    ),
    _s(
        "多媒体设备辐射骚扰测试",
        "Radiated emission of multimedia equipment",
        "electrical",
        "GB/T 9254.1-2021",
        (1500, 5000),
        (7, 12),
        "elec",
        "整机 1 台及配套线缆",
        "0402",
    ),
    _s(
        "外壳防护等级（IP代码）试验",
        "Degrees of protection by enclosures (IP code)",
        "electrical",
        "GB/T 4208-2017",
        (800, 2500),
        (5, 10),
        "elec env auto",
        "样品 2 台",
    ),
    _s(
        "高温与低温试验",
        "High- and low-temperature test",
        "electrical",
        "GB/T 2423.1-2008；GB/T 2423.2-2008",
        (300, 1000),
        (5, 10),
        "env elec auto",
        "样品 ≤ 3 件，注明工作状态",
        "1203",
    ),
    _s(
        "恒定湿热试验",
        "Damp heat, steady state",
        "electrical",
        "GB/T 2423.3-2016",
        (300, 1000),
        (7, 12),
        "env elec",
        "样品 ≤ 3 件",
        "1203",
    ),
    _s(
        "中性盐雾试验",
        "Neutral salt spray test",
        "electrical",
        "GB/T 2423.17-2008",
        (300, 1200),
        (7, 15),
        "env materials auto",
        "样品 ≤ 5 件，注明试验时长",
        "1203",
    ),
    _s(
        "正弦振动试验",
        "Sinusoidal vibration test",
        "electrical",
        "GB/T 2423.10-2019",
        (600, 2000),
        (5, 10),
        "env auto mech",
        "样品及安装夹具",
        "1203",
    ),
    _s(
        "低压开关设备温升试验",
        "Temperature-rise test of low-voltage switchgear",
        "electrical",
        "GB/T 14048.1-2023",
        (1000, 3000),
        (7, 12),
        "elec env",
        "样品 3 台",
    ),
    _s(
        "半导体分立器件电参数测试",
        "Electrical parameters of discrete semiconductor devices",
        "electrical",
        "GB/T 4586-1994",
        (300, 1000),
        (5, 10),
        "semi elec",
        "器件 ≥ 10 只",
        "0405",
    ),
    # metrology
    _s(
        "坐标测量机几何尺寸检测",
        "Dimensional inspection on a CMM",
        "metrology",
        "JJF 1064-2010",
        (300, 1500),
        (3, 7),
        "metro mech auto",
        "零件及图纸",
        "0301",
    ),
    _s(
        "材料试验机力值校准",
        "Force calibration of testing machines",
        "metrology",
        "JJG 139-2014",
        (400, 1200),
        (3, 7),
        "metro mech",
        "现场校准",
    ),
    _s(
        "环境试验设备温湿度校准",
        "Temperature and humidity calibration of test chambers",
        "metrology",
        "JJF 1101-2019",
        (400, 1000),
        (3, 7),
        "metro env",
        "现场校准",
    ),
    _s(
        "压力表检定",
        "Verification of pressure gauges",
        "metrology",
        "JJG 52-2013",
        (100, 200),
        (3, 5),
        "metro mech",
        "送检压力表",
    ),
    _s(
        "电子天平校准",
        "Calibration of electronic balances",
        "metrology",
        "JJG 1036-2008",
        (100, 300),
        (3, 5),
        "metro chem",
        "送检或现场校准",
    ),
    _s(
        "数字多用表校准",
        "Calibration of digital multimeters",
        "metrology",
        "JJF 1587-2016",
        (200, 600),
        (3, 7),
        "metro elec",
        "送检仪表及附件",
    ),
    _s(
        "圆度及形位误差测量",
        "Roundness and geometric tolerance measurement",
        "metrology",
        "GB/T 7235-2004",
        (200, 600),
        (3, 7),
        "metro mech",
        "回转体零件及图纸",
        "0301",
    ),
    # biomedical
    _s(
        "流式细胞术淋巴细胞亚群检测",
        "Lymphocyte subsets by flow cytometry",
        "biomedical",
        "WS/T 360-2011",
        (300, 800),
        (3, 7),
        "bio",
        "EDTA 抗凝全血 2 mL，24 h 内送检",
        "0903",
    ),
    _s(
        "医疗器械细胞毒性试验",
        "Cytotoxicity of medical devices",
        "biomedical",
        "GB/T 16886.5-2017",
        (1500, 4000),
        (10, 20),
        "bio materials",
        "浸提样品及说明",
    ),
    _s(
        "医疗器械无菌检验",
        "Sterility test of medical devices",
        "biomedical",
        "GB/T 14233.2-2005",
        (500, 1500),
        (10, 15),
        "bio",
        "独立包装样品 ≥ 20 件",
    ),
    _s(
        "蛋白质分子量测定（MALDI-TOF）",
        "Protein molecular weight by MALDI-TOF",
        "biomedical",
        "JY/T 0569-2020",
        (300, 900),
        (3, 7),
        "bio ms",
        "纯化蛋白 ≥ 10 μg",
        "0102",
    ),
    _s(
        "细胞凋亡与周期检测",
        "Apoptosis and cell-cycle analysis",
        "biomedical",
        "流式细胞术通用方法",
        (300, 800),
        (3, 7),
        "bio",
        "活细胞悬液 ≥ 1×10⁶ 个",
        "0903",
    ),
)

_SERVICE_WEIGHT = {"testing_body": 8, "institute": 4, "university": 2, "engineering_centre": 1}
_CATEGORY_CODE = {
    "chemical": "HX",
    "materials": "CL",
    "environment": "HJ",
    "biomedical": "SW",
    "electrical": "DQ",
    "metrology": "JL",
    "food": "SP",
    "structure": "JG",
}


@dataclass(frozen=True)
class GeneratedService:
    provider_key: str
    fields: dict[str, Any]  # service item columns except provider and search fields
    instrument_prefix: str  # link to the provider's instrument of this subcategory, if any


def service_items(provider_specs: Sequence[ProviderSpec]) -> list[GeneratedService]:
    """The 309 testing services, mostly of testing bodies and institutes, each
    along its provider's focus; a provider offers a template at most once."""
    rng = random.Random(f"{SEED}-services")
    matching = {
        p.key: [t for t in SERVICE_TEMPLATES if set(t.tags) & set(p.focus)] for p in provider_specs
    }
    weights = [_SERVICE_WEIGHT[p.provider_type] if matching[p.key] else 0 for p in provider_specs]
    counts = _allocate(SERVICE_ITEMS, weights)
    # Cap at what a provider can offer; move the rest to those with room.
    spill = 0
    for i, p in enumerate(provider_specs):
        room = len(matching[p.key])
        if counts[i] > room:
            spill += counts[i] - room
            counts[i] = room
    while spill:
        before = spill
        for i, p in enumerate(provider_specs):
            if spill and counts[i] < len(matching[p.key]) and weights[i] >= 4:
                counts[i] += 1
                spill -= 1
        if spill == before:
            raise ValueError("not enough service templates for the providers' focus")
    items: list[GeneratedService] = []
    for provider, count in zip(provider_specs, counts, strict=True):
        templates = rng.sample(matching[provider.key], count)
        for seq, template in enumerate(templates, start=1):
            cma = provider.provider_type == "testing_body" or rng.random() < 0.3
            fields: dict[str, Any] = {
                "code": f"FW-{_CATEGORY_CODE[template.category]}-{seq:03d}",
                "name_zh": template.name_zh,
                "name_en": template.name_en,
                "category": template.category,
                "method_standard": template.standard,
                "sample_requirements": template.sample,
                "description": f"依据 {template.standard} 开展{template.name_zh}，出具检测报告"
                + ("（CMA）。" if cma else "。"),
                "unit_price_fen": int(round(rng.uniform(*template.price_yuan) / 10) * 10) * 100,
                "turnaround_days": rng.randint(*template.turnaround),
                "weekly_capacity": rng.choice((10, 20, 30, 40, 60, 100, 200)),
                "cma_scope": cma,
                "cnas_scope": cma and rng.random() < 0.6,
                "active": rng.random() < 0.97,
            }
            items.append(GeneratedService(provider.key, fields, template.instrument_prefix))
    assert len(items) == SERVICE_ITEMS, len(items)
    return items


# --- enterprises -----------------------------------------------------------------------

_BRANDS = (
    ("博睿", "Borui"),
    ("华芯", "Huaxin"),
    ("联创", "Lianchuang"),
    ("精锐", "Jingrui"),
    ("锐思", "Ruisi"),
    ("启明", "Qiming"),
    ("恒拓", "Hengtuo"),
    ("瑞丰", "Ruifeng"),
    ("致远", "Zhiyuan"),
    ("科达", "Keda"),
    ("宏图", "Hongtu"),
    ("星瀚", "Xinghan"),
    ("中晟", "Zhongsheng"),
    ("天润", "Tianrun"),
    ("安驰", "Anchi"),
    ("嘉驰", "Jiachi"),
    ("纳睿", "Narui"),
    ("智航", "Zhihang"),
    ("明芯", "Mingxin"),
    ("翔宇", "Xiangyu"),
    ("汇智", "Huizhi"),
    ("泓源", "Hongyuan"),
    ("德晟", "Desheng"),
    ("凯普", "Kaipu"),
    ("微视", "Weishi"),
    ("云帆", "Yunfan"),
    ("睿驰", "Ruichi"),
    ("拓维", "Tuowei"),
    ("清研", "Qingyan"),
    ("沃达", "Woda"),
    ("迈科", "Maike"),
    ("鼎信", "Dingxin"),
    ("欧瑞", "Ourui"),
    ("瓯越", "Ouyue"),
    ("鹿鸣", "Luming"),
    ("东瓯", "Dong'ou"),
    ("吴越", "Wuyue"),
    ("姑苏", "Gusu"),
    ("菊园", "Juyuan"),
    ("疁城", "Liucheng"),
)
_INDUSTRIES = (
    ("新材料科技", "New Materials Technology"),
    ("精密机械", "Precision Machinery"),
    ("汽车零部件", "Auto Parts"),
    ("生物医药", "Biopharmaceutical"),
    ("智能装备", "Intelligent Equipment"),
    ("电子科技", "Electronic Technology"),
    ("环保科技", "Environmental Technology"),
    ("食品", "Food"),
    ("光电科技", "Optoelectronic Technology"),
    ("医疗器械", "Medical Devices"),
    ("新能源汽车科技", "New Energy Vehicle Technology"),
    ("微电子", "Microelectronics"),
    ("电气", "Electric"),
    ("检测仪器", "Testing Instruments"),
    ("化工", "Chemical"),
    ("传感技术", "Sensing Technology"),
)


@dataclass(frozen=True)
class EnterpriseSpec:
    key: str
    region_code: str
    name_zh: str
    name_en: str
    category: str  # tech_sme, high_tech, other
    controller_name: str
    status: str  # verified, pending, rejected
    status_reason: str | None
    contact_name: str
    contact_phone: str
    address: str
    serial: int

    @property
    def uscc(self) -> str:
        return uscc.make(REGION_BY_CODE[self.region_code].division_code, self.serial)


_ENTERPRISE_SERIAL_BASE = 300_000
_ENTERPRISE_COUNTS = {"jiading": 30, "suzhou": 26, "wenzhou": 16}
# The firms the demo sign-ins belong to: (key, region, brand, industry, status)
_DEMO_FIRMS = (
    (
        "demo-jiading",
        "jiading",
        ("嘉驰", "Jiachi"),
        ("新能源汽车科技", "New Energy Vehicle Technology"),
        "verified",
    ),
    ("demo-suzhou", "suzhou", ("纳睿", "Narui"), ("微电子", "Microelectronics"), "verified"),
    (
        "demo-pending",
        "jiading",
        ("菊园", "Juyuan"),
        ("智能装备", "Intelligent Equipment"),
        "pending",
    ),
    ("demo-wenzhou", "wenzhou", ("瓯越", "Ouyue"), ("电气", "Electric"), "verified"),
)


def _firm_name(
    region: RegionSpec, brand: tuple[str, str], industry: tuple[str, str]
) -> tuple[str, str]:
    return (
        f"{region.city_zh}{brand[0]}{industry[0]}有限公司",
        f"{region.city_en} {brand[1]} {industry[1]} Co., Ltd.",
    )


def enterprises() -> list[EnterpriseSpec]:
    """72 firms across the three regions: mostly verified, a few waiting for
    their authority, one rejected; some share a controller (实际控制人)."""
    rng = random.Random(f"{SEED}-enterprises")
    specs: list[EnterpriseSpec] = []
    names: set[str] = set()
    serial = _ENTERPRISE_SERIAL_BASE
    plan: list[tuple[str, str, tuple[str, str], tuple[str, str], str]] = list(_DEMO_FIRMS)
    for region in REGIONS:
        existing = sum(1 for f in _DEMO_FIRMS if f[1] == region.code)
        for n in range(_ENTERPRISE_COUNTS[region.code] - existing):
            status = (
                "pending"
                if n % 12 == 4
                else "rejected"
                if (region.code, n) == ("suzhou", 7)
                else "verified"
            )
            plan.append(
                (
                    f"{region.code}-{n + 1:02d}",
                    region.code,
                    rng.choice(_BRANDS),
                    rng.choice(_INDUSTRIES),
                    status,
                )
            )
    # Controller groups: a few people each control two or three firms.
    controllers = [person_name(rng) for _ in range(len(plan))]
    group_heads = [person_name(rng) for _ in range(8)]
    for i, head in enumerate(group_heads):
        for j in (i * 7, i * 7 + 3, i * 7 + 5)[: 2 + i % 2]:
            if j < len(controllers):
                controllers[j] = head
    for (key, region_code, brand, industry, status), controller in zip(
        plan, controllers, strict=True
    ):
        region = REGION_BY_CODE[region_code]
        zh, en = _firm_name(region, brand, industry)
        while zh in names:
            brand = rng.choice(_BRANDS)
            zh, en = _firm_name(region, brand, industry)
        names.add(zh)
        serial += 1
        category = _weighted(rng, (("tech_sme", 50), ("high_tech", 35), ("other", 15)))
        if key.startswith("demo-") and status == "verified":
            category = "tech_sme" if region_code != "suzhou" else "high_tech"
        specs.append(
            EnterpriseSpec(
                key=key,
                region_code=region_code,
                name_zh=zh,
                name_en=en,
                category=category,
                controller_name=controller,
                status=status,
                status_reason="营业执照名称与统一社会信用代码登记信息不一致。"
                if status == "rejected"
                else None,
                contact_name=person_name(rng),
                contact_phone=mobile(rng),
                address=_address(rng, region),
                serial=serial,
            )
        )
    return specs
