"""Public detail pages of instruments and service items: every field shown,
in the user's language; anything not public answers 404."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

import pytest
from flask.testing import FlaskClient

from booking.accounts.models import Organization, OrgKind, Region
from booking.extensions import db
from instruments import services as catalogue
from instruments.models import Instrument, ServiceItem


@pytest.fixture
def provider(
    make_region: Callable[..., Region], make_org: Callable[..., Organization]
) -> Organization:
    region = make_region("jd", name_zh="嘉定区", name_en="Jiading")
    return make_org(OrgKind.PROVIDER, region, name_zh="上海大学", name_en="Shanghai University")


@pytest.fixture
def instrument(provider: Organization, make_instrument: Callable[..., Instrument]) -> Instrument:
    return make_instrument(
        provider,
        {"occupy": 12_050, "entrusted": 30_000},
        name_zh="气相色谱-质谱联用仪",
        name_en="Gas chromatograph-mass spectrometer",
        internal_no="SHU-GCMS-01",
        classification_code="010201",
        model="GCMS-QP2020 NX",
        manufacturer="岛津",
        country_of_origin="日本",
        source="donated",
        original_value_fen=123_456_789,
        commissioned_on=date(2019, 6, 18),
        location="宝山校区分析测试中心 B105",
        contact_name="王老师",
        contact_phone="021-66130000",
        specifications="质量范围 1.5–1090 u",
        functions="挥发性有机物定性定量",
        subject_areas="化学；环境科学",
        service_content="送样检测与自主上机",
        sharing_rules="首次上机需参加培训",
        open_weekdays="135",
        open_from=time(9, 0),
        open_until=time(16, 30),
        slot_minutes=30,
        min_minutes=60,
        max_minutes=240,
        max_days_ahead=45,
        approval_required=False,
        cancel_cutoff_hours=48,
    )


def text(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status
    return response.get_data(as_text=True)


def test_instrument_detail_shows_every_field(client: FlaskClient, instrument: Instrument) -> None:
    db.session.commit()
    page = text(client, f"/instruments/{instrument.id}")
    for shown in (
        "气相色谱-质谱联用仪",
        "Gas chromatograph-mass spectrometer",
        "SHU-GCMS-01",
        "010201",
        "质谱仪器",
        "分析仪器",
        "GCMS-QP2020 NX",
        "岛津",
        "日本",
        "捐赠",
        "123.46",
        "2019-06-18",
        "宝山校区分析测试中心 B105",
        "王老师",
        "021-66130000",
        "质量范围 1.5–1090 u",
        "挥发性有机物定性定量",
        "化学；环境科学",
        "送样检测与自主上机",
        "首次上机需参加培训",
        "正常",
        "外部共享",
        "上海大学",
        "嘉定区",
        # prices per mode, with lead times
        "占用共享",
        "¥120.50",
        "委托共享",
        "¥300.00",
        # booking policy
        "周一、周三、周五",
        "09:00 – 16:30",
        "30 分钟",
        "60 – 240 分钟",
        "45 天",
        "开始前 48 小时",
    ):
        assert shown in page, shown
    assert f'data-instrument-id="{instrument.id}"' in page


def test_instrument_detail_shows_upcoming_downtime_in_shanghai_time(
    client: FlaskClient, instrument: Instrument
) -> None:
    catalogue.add_downtime(
        instrument,
        datetime(2031, 3, 2, 1, 0, tzinfo=UTC),
        datetime(2031, 3, 2, 9, 0, tzinfo=UTC),
        "maintenance",
        "年度保养",
        actor=None,
        now=datetime(2030, 1, 1, tzinfo=UTC),
    )
    db.session.commit()
    page = text(client, f"/instruments/{instrument.id}")
    assert "2031-03-02 09:00" in page and "2031-03-02 17:00" in page
    assert "年度保养" in page


def test_instrument_detail_lists_linked_services_of_the_same_provider(
    client: FlaskClient,
    instrument: Instrument,
    provider: Organization,
    make_service_item: Callable[..., ServiceItem],
) -> None:
    own = make_service_item(provider, name_zh="挥发性有机物检测", instrument_id=instrument.id)
    make_service_item(provider, name_zh="没有关联仪器的服务")
    make_service_item(
        provider, name_zh="已停用的关联服务", instrument_id=instrument.id, active=False
    )
    make_service_item(name_zh="别家机构的关联服务", instrument_id=instrument.id)
    db.session.commit()
    page = text(client, f"/instruments/{instrument.id}")
    assert "挥发性有机物检测" in page and f"/services/{own.id}" in page
    for hidden in ("没有关联仪器的服务", "已停用的关联服务", "别家机构的关联服务"):
        assert hidden not in page


def test_instrument_detail_in_english(client: FlaskClient, instrument: Instrument) -> None:
    db.session.commit()
    client.get("/locale/en?next=/")
    page = text(client, f"/instruments/{instrument.id}")
    assert "<h1" in page and "Gas chromatograph-mass spectrometer" in page.split("<h1", 1)[1]
    assert "Shanghai University" in page and "Jiading" in page
    assert "Mass spectrometry" in page


@pytest.mark.parametrize("sharing_mode", ["internal", "none"])
def test_instrument_not_shared_externally_is_404(
    client: FlaskClient, make_instrument: Callable[..., Instrument], sharing_mode: str
) -> None:
    hidden = make_instrument(sharing_mode=sharing_mode)
    db.session.commit()
    assert "页面不存在" in text(client, f"/instruments/{hidden.id}", status=404)


@pytest.mark.parametrize("status", ["pending", "rejected"])
def test_instrument_of_unverified_provider_is_404(
    client: FlaskClient,
    make_org: Callable[..., Organization],
    make_instrument: Callable[..., Instrument],
    status: str,
) -> None:
    hidden = make_instrument(make_org(OrgKind.PROVIDER, status=status))
    db.session.commit()
    text(client, f"/instruments/{hidden.id}", status=404)
    assert f'data-instrument-id="{hidden.id}"' not in text(client, "/instruments")


@pytest.mark.parametrize(
    "url",
    [
        "/instruments/999999",
        "/instruments/0",
        "/instruments/abc",
        "/instruments/-1",
        "/instruments/99999999999999999999999",
        "/services/99999999999999999999999",
    ],
)
def test_unknown_instrument_is_404(client: FlaskClient, url: str) -> None:
    text(client, url, status=404)


def test_service_detail_shows_every_field(
    client: FlaskClient,
    provider: Organization,
    instrument: Instrument,
    make_service_item: Callable[..., ServiceItem],
) -> None:
    item = make_service_item(
        provider,
        code="FW-VOC-01",
        name_zh="挥发性有机物检测",
        name_en="VOC analysis",
        category="environment",
        method_standard="HJ 644-2013",
        unit_price_fen=45_000,
        turnaround_days=6,
        weekly_capacity=35,
        sample_requirements="气袋采样，48 小时内送达",
        cma_scope=True,
        cnas_scope=False,
        instrument_id=instrument.id,
    )
    db.session.commit()
    page = text(client, f"/services/{item.id}")
    for shown in (
        "挥发性有机物检测",
        "VOC analysis",
        "FW-VOC-01",
        "环境检测",
        "HJ 644-2013",
        "¥450.00",
        "6 个工作日",
        "35",
        "气袋采样，48 小时内送达",
        "CMA",
        "上海大学",
        "嘉定区",
        f"/instruments/{instrument.id}",
    ):
        assert shown in page, shown
    assert 'id="cnas-badge"' not in page


def test_service_detail_hides_link_to_a_non_public_instrument(
    client: FlaskClient,
    provider: Organization,
    make_instrument: Callable[..., Instrument],
    make_service_item: Callable[..., ServiceItem],
) -> None:
    internal = make_instrument(provider, sharing_mode="internal")
    item = make_service_item(provider, instrument_id=internal.id)
    db.session.commit()
    assert f"/instruments/{internal.id}" not in text(client, f"/services/{item.id}")


def test_inactive_or_unverified_service_is_404(
    client: FlaskClient,
    make_org: Callable[..., Organization],
    make_service_item: Callable[..., ServiceItem],
) -> None:
    inactive = make_service_item(active=False)
    unverified = make_service_item(make_org(OrgKind.PROVIDER, status="pending"))
    db.session.commit()
    text(client, f"/services/{inactive.id}", status=404)
    text(client, f"/services/{unverified.id}", status=404)
    text(client, "/services/424242", status=404)
