"""A stand-in catalogue generator for the benchmark.

Used only when `booking.demo` (the real demo data, with the same interface:
``seed(scale, progress) -> summary``) is not available. Bulk inserts regions,
130 provider organizations and `scale` instruments with realistic Chinese
names, categories, models, manufacturers and prices, so the search terms of
the benchmark hit about as often as in the demo alliance.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import insert

from booking.accounts import uscc
from booking.accounts.models import Organization, Region
from booking.extensions import db
from instruments.classification import category_name
from instruments.models import Instrument, InstrumentPrice
from instruments.search import search_fields

REGIONS = (
    ("jiading", "嘉定区", "Jiading", "310114"),
    ("suzhou", "苏州市", "Suzhou", "320500"),
    ("wenzhou", "温州市", "Wenzhou", "330300"),
)

# (classification code, zh name, en name, weight)
KINDS: tuple[tuple[str, str, str, int], ...] = (
    ("010501", "气相色谱仪", "Gas chromatograph", 5),
    ("010501", "高效液相色谱仪", "HPLC", 7),
    ("010501", "离子色谱仪", "Ion chromatograph", 3),
    ("010201", "气相色谱-质谱联用仪", "GC-MS", 4),
    ("010201", "液相色谱-质谱联用仪", "LC-MS/MS", 4),
    ("010201", "电感耦合等离子体质谱仪", "ICP-MS", 3),
    ("010101", "扫描电子显微镜", "Scanning electron microscope", 5),
    ("010101", "透射电子显微镜", "Transmission electron microscope", 2),
    ("010301", "X射线衍射仪", "X-ray diffractometer", 4),
    ("010401", "傅里叶变换红外光谱仪", "FTIR spectrometer", 4),
    ("010401", "紫外可见分光光度计", "UV-Vis spectrophotometer", 5),
    ("010401", "原子吸收光谱仪", "Atomic absorption spectrometer", 3),
    ("010601", "核磁共振波谱仪", "NMR spectrometer", 2),
    ("010701", "电化学工作站", "Electrochemical workstation", 3),
    ("010801", "激光共聚焦显微镜", "Confocal laser scanning microscope", 3),
    ("010901", "热重分析仪", "Thermogravimetric analyser", 3),
    ("010901", "差示扫描量热仪", "Differential scanning calorimeter", 3),
    ("011001", "流式细胞仪", "Flow cytometer", 3),
    ("011201", "微波消解仪", "Microwave digestion system", 2),
    ("020101", "万能材料试验机", "Universal testing machine", 5),
    ("020101", "疲劳试验机", "Fatigue testing machine", 2),
    ("020501", "激光粒度分析仪", "Laser particle size analyser", 2),
    ("020601", "超声波探伤仪", "Ultrasonic flaw detector", 2),
    ("030101", "三坐标测量机", "Coordinate measuring machine", 2),
    ("040201", "矢量网络分析仪", "Vector network analyser", 2),
    ("040101", "数字示波器", "Digital oscilloscope", 3),
    ("040501", "半导体参数分析仪", "Semiconductor parameter analyser", 2),
    ("090301", "细胞成像分析系统", "Cell imaging system", 2),
    ("090101", "小动物活体成像系统", "In vivo imaging system", 1),
    ("120301", "高低温湿热试验箱", "Climatic test chamber", 3),
    ("120201", "磁控溅射镀膜仪", "Magnetron sputtering system", 1),
    ("130101", "高性能计算集群", "HPC cluster", 1),
    ("140101", "飞秒激光器", "Femtosecond laser", 1),
    ("150101", "超纯水系统", "Ultrapure water system", 2),
)
MANUFACTURERS = (
    ("岛津", "Shimadzu", "日本"),
    ("安捷伦", "Agilent", "美国"),
    ("赛默飞", "Thermo Fisher", "美国"),
    ("沃特世", "Waters", "美国"),
    ("布鲁克", "Bruker", "德国"),
    ("日立", "Hitachi", "日本"),
    ("蔡司", "Zeiss", "德国"),
    ("日本电子", "JEOL", "日本"),
    ("珀金埃尔默", "PerkinElmer", "美国"),
    ("英斯特朗", "Instron", "美国"),
    ("是德科技", "Keysight", "美国"),
    ("天美", "Techcomp", "中国"),
    ("聚光科技", "FPI", "中国"),
    ("舜宇", "Sunny", "中国"),
)
PROVIDER_KINDS = (
    ("大学", "University", "university"),
    ("研究院", "Research Institute", "institute"),
    ("检验检测中心", "Testing Centre", "testing_body"),
    ("工程技术中心", "Engineering Centre", "engineering_centre"),
)
MODES = ("occupy", "technical", "entrusted", "remote")


@dataclass
class Summary:
    regions: int
    providers: int
    instruments: int

    def describe(self) -> str:
        return (
            f"{self.regions} regions, {self.providers} providers, "
            f"{self.instruments:,} instruments (bench generator)"
        )


def _chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


def seed(scale: int | None, progress: Callable[[str], None]) -> Summary:
    """Bulk-insert a catalogue of `scale` instruments (1,705 when None)."""
    rng = random.Random(20261122)
    total = scale or 1705
    now = datetime(2026, 11, 22, tzinfo=UTC)
    region_ids = []
    for code, zh, en, division in REGIONS:
        region = Region(code=code, name_zh=zh, name_en=en, division_code=division)
        db.session.add(region)
        db.session.flush()
        region_ids.append((region.id, zh, division))
    providers: list[int] = []
    for n in range(130):
        region_id, region_zh, division = region_ids[n % 3]
        kind_zh, kind_en, kind = PROVIDER_KINDS[n % 4]
        org = Organization(
            kind="provider",
            name_zh=f"{region_zh}第{n + 1}{kind_zh}",
            name_en=f"{kind_en} No. {n + 1}",
            uscc=uscc.make(division, 700000 + n),
            region_id=region_id,
            provider_type=kind,
            status="pending" if n % 29 == 28 else "verified",
            verified_at=now,
        )
        db.session.add(org)
        db.session.flush()
        providers.append(org.id)
    weights = [k[3] for k in KINDS]
    for chunk in _chunks(total, 5000):
        rows: list[dict[str, Any]] = []
        modes_of: list[dict[str, int]] = []
        for i in chunk:
            code, zh, en, _ = rng.choices(KINDS, weights)[0]
            maker_zh, maker_en, country = rng.choice(MANUFACTURERS)
            model = f"{maker_en[:2].upper()}-{rng.randint(100, 9999)}"
            modes = rng.sample(MODES, rng.choice((1, 1, 2, 2, 3)))
            base = rng.choice((50, 80, 100, 150, 200, 300, 500, 800)) * 100
            prices = {m: base * (2 if m == "entrusted" else 1) for m in modes}
            specs = f"{zh}主要技术指标：分辨率 {rng.randint(1, 99)}，精度 ±{rng.randint(1, 9)}%"
            functions = f"用于{category_name(code, 'zh')}相关的测试与分析"
            text, tokens = search_fields(
                zh,
                en,
                model,
                maker_zh,
                f"YQ{i:07d}",
                category_name(code, "zh"),
                category_name(code, "en"),
                functions,
                specs,
            )
            sharing = rng.choices(("external", "internal", "none"), (85, 10, 5))[0]
            status = rng.choices(
                ("normal", "standby", "remote", "occasional_fault", "awaiting_repair"),
                (70, 15, 5, 5, 5),
            )[0]
            rows.append(
                {
                    "provider_id": rng.choice(providers),
                    "internal_no": f"YQ{i:07d}",
                    "name_zh": zh,
                    "name_en": en,
                    "classification_code": code,
                    "category_code": code[:2],
                    "model": model,
                    "manufacturer": maker_zh,
                    "country_of_origin": country,
                    "source": "purchased",
                    "original_value_fen": rng.randint(30, 2000) * 1_000_000,
                    "location": f"实验楼{rng.choice('ABCDE')}{rng.randint(101, 599)}",
                    "specifications": specs,
                    "functions": functions,
                    "status": status,
                    "sharing_mode": sharing,
                    "open_from": time(8, 30),
                    "open_until": time(17, 30),
                    "price_from_fen": min(prices.values()),
                    "search_text": text,
                    "search_tokens": tokens,
                    "created_at": now - timedelta(minutes=total - i),
                    "updated_at": now,
                }
            )
            modes_of.append(prices)
        ids = db.session.scalars(
            insert(Instrument).returning(Instrument.id, sort_by_parameter_order=True), rows
        ).all()
        price_rows = [
            {
                "instrument_id": iid,
                "mode": mode,
                "price_fen_per_hour": fen,
                "lead_days": 7 if mode == "entrusted" else 3,
            }
            for iid, prices in zip(ids, modes_of, strict=True)
            for mode, fen in prices.items()
        ]
        db.session.execute(insert(InstrumentPrice), price_rows)
        db.session.commit()
        progress(f"  {chunk.stop:,} / {total:,} instruments")
    return Summary(len(REGIONS), len(providers), total)
