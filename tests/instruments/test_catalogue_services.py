"""Public list of testing services: search, filters, sorting, bad input."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from booking.accounts.models import Organization, OrgKind, Region
from booking.extensions import db
from instruments.models import ServiceItem

ROW = re.compile(r'data-service-id="(\d+)"')


def ids(client: FlaskClient, url: str, status: int = 200) -> list[int]:
    response = client.get(url)
    assert response.status_code == status
    return [int(i) for i in ROW.findall(response.get_data(as_text=True))]


@pytest.fixture
def items(
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    make_service_item: Callable[..., ServiceItem],
) -> dict[str, ServiceItem]:
    jd = make_region("jd", name_zh="嘉定区", name_en="Jiading")
    wz = make_region("wz", name_zh="温州市", name_en="Wenzhou")
    p1 = make_org(OrgKind.PROVIDER, jd)
    p2 = make_org(OrgKind.PROVIDER, wz)
    made = {
        "tensile": make_service_item(
            p1,
            name_zh="金属材料室温拉伸试验",
            name_en="Tensile test of metals",
            category="materials",
            unit_price_fen=30_000,
            turnaround_days=5,
            method_standard="GB/T 228.1-2021",
            cma_scope=True,
            cnas_scope=True,
        ),
        "metals": make_service_item(
            p2,
            name_zh="土壤重金属检测",
            name_en="Heavy metals in soil",
            category="environment",
            unit_price_fen=80_000,
            turnaround_days=10,
            method_standard="HJ 491-2019",
            cma_scope=True,
        ),
        "sem": make_service_item(
            p1,
            name_zh="扫描电镜形貌观察",
            name_en="SEM imaging",
            category="structure",
            unit_price_fen=50_000,
            turnaround_days=3,
            method_standard="",
        ),
        "inactive": make_service_item(p1, name_zh="停用的拉伸试验", active=False),
        "unverified": make_service_item(
            make_org(OrgKind.PROVIDER, jd, status="pending"), name_zh="待审机构拉伸试验"
        ),
    }
    db.session.commit()
    return made


def want(items: dict[str, ServiceItem], *names: str) -> list[int]:
    return [items[n].id for n in names]


def test_only_active_items_of_verified_providers(
    client: FlaskClient, items: dict[str, ServiceItem]
) -> None:
    assert set(ids(client, "/services")) == set(want(items, "tensile", "metals", "sem"))
    assert ids(client, "/services?q=拉伸") == want(items, "tensile")


def test_keyword_search(client: FlaskClient, items: dict[str, ServiceItem]) -> None:
    assert ids(client, "/services?q=重金属") == want(items, "metals")
    assert ids(client, "/services?q=GB/T+228.1") == want(items, "tensile")
    assert ids(client, "/services?q=soil") == want(items, "metals")
    assert ids(client, "/services?q=金属拉伸") == []  # not contiguous anywhere


def test_filters(client: FlaskClient, items: dict[str, ServiceItem]) -> None:
    assert set(ids(client, "/services?region=jd")) == set(want(items, "tensile", "sem"))
    provider = items["metals"].provider_id
    assert ids(client, f"/services?institution={provider}") == want(items, "metals")
    assert ids(client, "/services?category=structure") == want(items, "sem")
    assert set(ids(client, "/services?cma=1")) == set(want(items, "tensile", "metals"))
    assert ids(client, "/services?cma=1&cnas=1") == want(items, "tensile")
    assert set(ids(client, "/services?price_min=400&price_max=800")) == set(
        want(items, "metals", "sem")
    )


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("price", ["tensile", "sem", "metals"]),
        ("-price", ["metals", "sem", "tensile"]),
        ("turnaround", ["sem", "tensile", "metals"]),
        ("-turnaround", ["metals", "tensile", "sem"]),
        ("name", ["metals", "sem", "tensile"]),  # 土 < 扫 < 金
        ("newest", ["sem", "metals", "tensile"]),
        ("value", ["sem", "metals", "tensile"]),  # not a service sort key: default
    ],
)
def test_sort_keys(
    client: FlaskClient, items: dict[str, ServiceItem], sort: str, expected: list[str]
) -> None:
    assert ids(client, f"/services?sort={sort}") == want(items, *expected)


def test_bad_input_is_ignored_or_refused(
    client: FlaskClient, items: dict[str, ServiceItem]
) -> None:
    everything = set(want(items, "tensile", "metals", "sem"))
    response = client.get("/services?category=astrology&price_max=cheap&page=-1")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert set(ROW.findall(page)) == {str(i) for i in everything}
    assert "服务类别" in page and "不是有效的金额" in page
    response = client.get("/services?q=%7F")
    assert response.status_code == 400
    assert "控制字符" in response.get_data(as_text=True)
    assert client.get("/services?q=" + "x" * 65).status_code == 400
