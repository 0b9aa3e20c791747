"""Public instrument list: keyword search, filters, sorting, pagination and
bad input, through the HTTP interface. Runs on SQLite (LIKE scan) and on
PostgreSQL (GIN token index plus LIKE recheck)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from flask import Flask
from flask.testing import FlaskClient

from booking.accounts.models import Organization, OrgKind, Region
from booking.extensions import db
from instruments.models import Instrument

ROW = re.compile(r'data-instrument-id="(\d+)"')


@dataclass
class Catalogue:
    jiading: Region
    suzhou: Region
    p1: Organization
    p2: Organization
    pending: Organization
    gc: Instrument  # 气相色谱仪, Jiading, occupy 100 / entrusted 300 yuan
    lcms: Instrument  # 液相色谱质谱联用仪, Suzhou, entrusted 500, standby
    sem: Instrument  # 扫描电子显微镜, Jiading, technical 200, awaiting repair
    lc: Instrument  # 液相色谱仪 whose text holds 气相, 相色 and 色谱 apart
    tester: Instrument  # 万能材料试验机, category 02, Suzhou
    internal: Instrument  # internal sharing: never public
    unshared: Instrument  # not shared: never public
    unverified: Instrument  # pending provider: never public

    @property
    def public(self) -> set[int]:
        return {i.id for i in (self.gc, self.lcms, self.sem, self.lc, self.tester)}


@pytest.fixture
def catalogue(
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    make_instrument: Callable[..., Instrument],
) -> Catalogue:
    jiading = make_region("jd", name_zh="嘉定区", name_en="Jiading")
    suzhou = make_region("sz", name_zh="苏州市", name_en="Suzhou")
    p1 = make_org(OrgKind.PROVIDER, jiading, name_zh="上海大学", name_en="Shanghai University")
    p2 = make_org(OrgKind.PROVIDER, suzhou, name_zh="苏州大学", name_en="Soochow University")
    pending = make_org(OrgKind.PROVIDER, jiading, status="pending", name_zh="待审机构")
    gc = make_instrument(
        p1,
        {"occupy": 10_000, "entrusted": 30_000},
        name_zh="气相色谱仪",
        name_en="Gas chromatograph",
        model="GC-2030",
        manufacturer="岛津",
        classification_code="010501",
        original_value_fen=85_000_000,
    )
    lcms = make_instrument(
        p2,
        {"entrusted": 50_000},
        name_zh="液相色谱质谱联用仪",
        name_en="Liquid chromatograph-mass spectrometer",
        model="LCMS-8060 LC-MS/MS",
        manufacturer="Shimadzu",
        classification_code="010201",
        original_value_fen=300_000_000,
        status="standby",
    )
    sem = make_instrument(
        p1,
        {"technical": 20_000},
        name_zh="扫描电子显微镜",
        name_en="Scanning electron microscope",
        model="SU8010",
        manufacturer="日立",
        classification_code="010101",
        original_value_fen=250_000_000,
        status="awaiting_repair",
    )
    lc = make_instrument(
        p1,
        {"entrusted": 40_000},
        name_zh="液相色谱仪",
        name_en="Liquid chromatograph",
        model="LC-20AD",
        manufacturer="安捷伦",
        classification_code="010501",
        functions="样品气相平衡预处理",
        original_value_fen=60_000_000,
    )
    tester = make_instrument(
        p2,
        {"occupy": 15_000},
        name_zh="万能材料试验机",
        name_en="Universal testing machine",
        model="AG-X",
        classification_code="020101",
        original_value_fen=1_000_000,
    )
    internal = make_instrument(p1, name_zh="内部气相色谱仪", sharing_mode="internal")
    unshared = make_instrument(p1, name_zh="不共享色谱仪", sharing_mode="none")
    unverified = make_instrument(pending, name_zh="待审机构色谱仪")
    db.session.commit()
    return Catalogue(
        jiading, suzhou, p1, p2, pending, gc, lcms, sem, lc, tester, internal, unshared, unverified
    )


def ids(page: str) -> list[int]:
    return [int(i) for i in ROW.findall(page)]


def get(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    return response.get_data(as_text=True)


def total(page: str) -> int:
    found = re.search(r'id="result-count" data-total="(\d+)"', page)
    assert found is not None
    return int(found.group(1))


# --- keyword search ------------------------------------------------------------------


def test_list_shows_only_public_instruments(client: FlaskClient, catalogue: Catalogue) -> None:
    page = get(client, "/instruments")
    assert set(ids(page)) == catalogue.public
    assert total(page) == 5
    assert 'id="catalogue-search"' in page and 'id="results"' in page


def test_two_character_chinese_terms_match(client: FlaskClient, catalogue: Catalogue) -> None:
    assert set(ids(get(client, "/instruments?q=色谱"))) == {
        catalogue.gc.id,
        catalogue.lcms.id,
        catalogue.lc.id,
    }
    assert ids(get(client, "/instruments?q=质谱")) == [catalogue.lcms.id]


def test_four_character_term_needs_contiguous_text(
    client: FlaskClient, catalogue: Catalogue
) -> None:
    # 液相色谱仪 carries 气相, 相色 and 色谱 (its functions say 气相平衡) but
    # not 气相色谱: the bigram index alone would return it, the recheck must not.
    assert ids(get(client, "/instruments?q=气相色谱")) == [catalogue.gc.id]


def test_reversed_bigram_does_not_match(client: FlaskClient, catalogue: Catalogue) -> None:
    page = get(client, "/instruments?q=谱色")
    assert ids(page) == []
    assert 'id="no-results"' in page


def test_english_words_and_model_numbers(client: FlaskClient, catalogue: Catalogue) -> None:
    assert set(ids(get(client, "/instruments?q=chromatograph"))) == {
        catalogue.gc.id,
        catalogue.lcms.id,
        catalogue.lc.id,
    }
    assert ids(get(client, "/instruments?q=Microscope")) == [catalogue.sem.id]
    assert ids(get(client, "/instruments?q=GC-2030")) == [catalogue.gc.id]
    assert ids(get(client, "/instruments?q=LC-MS%2FMS")) == [catalogue.lcms.id]
    assert ids(get(client, "/instruments?q=SU8010")) == [catalogue.sem.id]


def test_every_term_must_match(client: FlaskClient, catalogue: Catalogue) -> None:
    assert ids(get(client, "/instruments?q=色谱+岛津")) == [catalogue.gc.id]
    assert ids(get(client, "/instruments?q=色谱+日立")) == []


def test_full_width_query_is_normalised(client: FlaskClient, catalogue: Catalogue) -> None:
    assert ids(get(client, "/instruments?q=ＧＣ-２０３０")) == [catalogue.gc.id]


def test_like_wildcards_in_query_are_literal(client: FlaskClient, catalogue: Catalogue) -> None:
    assert ids(get(client, "/instruments?q=%25")) == []
    assert ids(get(client, "/instruments?q=_")) == []


def test_keyword_results_are_newest_first(
    client: FlaskClient, catalogue: Catalogue, make_instrument: Callable[..., Instrument]
) -> None:
    later = make_instrument(
        catalogue.p1, name_zh="紫外可见分光光度计", specifications="可作质谱检测器"
    )
    db.session.commit()
    assert ids(get(client, "/instruments?q=质谱")) == [later.id, catalogue.lcms.id]


# --- filters ------------------------------------------------------------------------------


def test_region_filter(client: FlaskClient, catalogue: Catalogue) -> None:
    page = get(client, "/instruments?region=jd")
    assert set(ids(page)) == {catalogue.gc.id, catalogue.sem.id, catalogue.lc.id}
    # The institution list follows the chosen region.
    assert "上海大学" in page and "苏州大学" not in page
    assert "待审机构" not in page


def test_institution_filter(client: FlaskClient, catalogue: Catalogue) -> None:
    page = get(client, f"/instruments?institution={catalogue.p2.id}")
    assert set(ids(page)) == {catalogue.lcms.id, catalogue.tester.id}
    page = get(client, f"/instruments?institution={catalogue.pending.id}")
    assert set(ids(page)) == catalogue.public
    assert 'id="catalogue-notices"' in page


def test_category_filter(client: FlaskClient, catalogue: Catalogue) -> None:
    assert ids(get(client, "/instruments?category=02")) == [catalogue.tester.id]
    assert catalogue.tester.id not in ids(get(client, "/instruments?category=01"))


def test_mode_filter(client: FlaskClient, catalogue: Catalogue) -> None:
    assert set(ids(get(client, "/instruments?mode=occupy"))) == {
        catalogue.gc.id,
        catalogue.tester.id,
    }
    assert ids(get(client, "/instruments?mode=technical")) == [catalogue.sem.id]
    assert ids(get(client, "/instruments?mode=remote")) == []


def test_price_range_uses_lowest_price_without_mode(
    client: FlaskClient, catalogue: Catalogue
) -> None:
    # price_from: gc 100, tester 150, sem 200, lc 400, lcms 500 yuan per hour
    assert set(ids(get(client, "/instruments?price_min=150&price_max=400"))) == {
        catalogue.tester.id,
        catalogue.sem.id,
        catalogue.lc.id,
    }
    assert set(ids(get(client, "/instruments?price_max=100.00"))) == {catalogue.gc.id}
    assert set(ids(get(client, "/instruments?price_min=450"))) == {catalogue.lcms.id}


def test_price_range_uses_the_chosen_mode(client: FlaskClient, catalogue: Catalogue) -> None:
    # Entrusted: gc 300, lc 400, lcms 500. The gc's lowest price (100) is not what counts.
    page = get(client, "/instruments?mode=entrusted&price_min=250&price_max=450")
    assert set(ids(page)) == {catalogue.gc.id, catalogue.lc.id}
    assert "¥300.00" in page  # the mode's price is what the list shows


def test_status_filter(client: FlaskClient, catalogue: Catalogue) -> None:
    assert ids(get(client, "/instruments?status=standby")) == [catalogue.lcms.id]
    assert ids(get(client, "/instruments?status=awaiting_repair")) == [catalogue.sem.id]


def test_filters_combine(client: FlaskClient, catalogue: Catalogue) -> None:
    url = "/instruments?q=色谱&region=jd&category=01&mode=entrusted"
    assert set(ids(get(client, url))) == {catalogue.gc.id, catalogue.lc.id}


def test_facets_come_from_the_database(client: FlaskClient, catalogue: Catalogue) -> None:
    page = get(client, "/instruments")
    assert '<option value="jd"' in page and '<option value="sz"' in page
    assert f'<option value="{catalogue.p1.id}"' in page
    assert f'<option value="{catalogue.pending.id}"' not in page


# --- sorting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("newest", ["tester", "lc", "sem", "lcms", "gc"]),
        ("-newest", ["gc", "lcms", "sem", "lc", "tester"]),
        ("price", ["gc", "tester", "sem", "lc", "lcms"]),
        ("-price", ["lcms", "lc", "sem", "tester", "gc"]),
        ("value", ["tester", "lc", "gc", "sem", "lcms"]),
        ("-value", ["lcms", "sem", "gc", "lc", "tester"]),
        # zh names in code point order: 万 < 扫 < 气 < 液相色谱仪 < 液相色谱质
        ("name", ["tester", "sem", "gc", "lc", "lcms"]),
        ("-name", ["lcms", "lc", "gc", "sem", "tester"]),
    ],
)
def test_sort_keys(
    client: FlaskClient, catalogue: Catalogue, sort: str, expected: list[str]
) -> None:
    want = [getattr(catalogue, name).id for name in expected]
    assert ids(get(client, f"/instruments?sort={sort}")) == want


def test_default_sort_is_newest_first(client: FlaskClient, catalogue: Catalogue) -> None:
    assert ids(get(client, "/instruments")) == ids(get(client, "/instruments?sort=newest"))


def test_english_name_sort_uses_english_names(client: FlaskClient, catalogue: Catalogue) -> None:
    client.get("/locale/en?next=/")
    expected = ["gc", "lc", "lcms", "sem", "tester"]  # Gas, Liquid c., Liquid c.-m., Scan, Univ
    assert ids(get(client, "/instruments?sort=name")) == [
        getattr(catalogue, n).id for n in expected
    ]


@pytest.mark.parametrize("sort", ["bogus", "-", "--price", "relevance", "-relevance", "id;drop"])
def test_unknown_sort_key_falls_back_to_default(
    client: FlaskClient, catalogue: Catalogue, sort: str
) -> None:
    assert ids(get(client, f"/instruments?sort={sort}")) == ids(get(client, "/instruments"))


def test_sort_headers_keep_the_search(client: FlaskClient, catalogue: Catalogue) -> None:
    page = get(client, "/instruments?q=色谱&region=jd&mode=entrusted")
    header = re.search(r'href="([^"]*sort=price[^"]*)"', page)
    assert header is not None
    url = header.group(1).replace("&amp;", "&")
    assert "region=jd" in url and "mode=entrusted" in url and "q=" in url
    assert ids(get(client, url)) == [catalogue.gc.id, catalogue.lc.id]


# --- pagination ---------------------------------------------------------------------------


@pytest.fixture
def small_pages(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "CATALOGUE_PAGE_SIZE", 2)


def test_pages_split_the_results(
    client: FlaskClient, catalogue: Catalogue, small_pages: None
) -> None:
    everything = ids(get(client, "/instruments?sort=price"))
    assert len(everything) == 2
    seen = [i for n in (1, 2, 3) for i in ids(get(client, f"/instruments?sort=price&page={n}"))]
    assert len(seen) == 5 and set(seen) == catalogue.public
    page = get(client, "/instruments?sort=price&page=1")
    assert total(page) == 5
    # The pager keeps the sort (and every other parameter).
    assert "sort=price&amp;page=2" in page or "page=2&amp;sort=price" in page


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("0", 1),
        ("-3", 1),
        ("abc", 1),
        ("", 1),
        ("2", 2),
        ("3", 3),
        ("4", 3),
        ("999999999999999999999", 1),
        ("99999", 3),
        ("1.5", 1),
    ],
)
def test_page_numbers_are_clamped(
    client: FlaskClient, catalogue: Catalogue, small_pages: None, raw: str, shown: int
) -> None:
    expected = ids(get(client, f"/instruments?sort=price&page={shown}"))
    assert ids(get(client, f"/instruments?sort=price&page={raw}")) == expected


def test_last_page_may_be_short(
    client: FlaskClient, catalogue: Catalogue, small_pages: None
) -> None:
    page = get(client, "/instruments?q=色谱&page=2")
    assert len(ids(page)) == 1 and total(page) == 3


# --- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["price_min=abc", "price_max=-5", "price_min=1e9", "price_max=12.345", "price_min=%E2%88%9E"],
)
def test_bad_prices_are_ignored_with_a_notice(
    client: FlaskClient, catalogue: Catalogue, query: str
) -> None:
    page = get(client, f"/instruments?{query}")
    assert set(ids(page)) == catalogue.public
    assert 'id="catalogue-notices"' in page
    assert "不是有效的金额" in page


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("region=nowhere", "区域"),
        ("category=99", "仪器分类"),
        ("mode=teleport", "服务方式"),
        ("status=broken", "运行状态"),
        ("institution=abc", "服务机构"),
        ("institution=99999999", "服务机构"),
    ],
)
def test_unknown_filter_values_are_ignored_with_a_notice(
    client: FlaskClient, catalogue: Catalogue, query: str, word: str
) -> None:
    page = get(client, f"/instruments?{query}")
    assert set(ids(page)) == catalogue.public
    notices = re.search(r'id="catalogue-notices">(.*?)</div>', page, re.S)
    assert notices is not None and word in notices.group(1)


def test_inverted_price_range_is_swapped(client: FlaskClient, catalogue: Catalogue) -> None:
    page = get(client, "/instruments?price_min=400&price_max=150")
    assert set(ids(page)) == {catalogue.tester.id, catalogue.sem.id, catalogue.lc.id}
    assert "已交换" in page


def test_control_characters_answer_400(client: FlaskClient, catalogue: Catalogue) -> None:
    page = get(client, "/instruments?q=%E8%89%B2%01%E8%B0%B1", status=400)
    assert "控制字符" in page
    assert 'id="query-error"' in page
    assert get(client, "/instruments?q=a%0Ab", status=400)


def test_overlong_query_answers_400(client: FlaskClient, app: Flask, catalogue: Catalogue) -> None:
    limit = app.config["SEARCH_MAX_LENGTH"]
    page = get(client, "/instruments?q=" + "色" * (limit + 1), status=400)
    assert "太长" in page and str(limit) in page
    get(client, "/instruments?q=" + "色" * limit)


def test_english_page_shows_english_names(client: FlaskClient, catalogue: Catalogue) -> None:
    client.get("/locale/en?next=/")
    page = get(client, "/instruments?q=色谱")
    assert "Gas chromatograph" in page and "Jiading" in page and "Shanghai University" in page
    assert "气相色谱仪" not in page


def test_count_stops_at_the_cap(
    client: FlaskClient,
    app: Flask,
    catalogue: Catalogue,
    small_pages: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Patched for this test only: later tests see config.py's values again.
    monkeypatch.setitem(app.config, "CATALOGUE_COUNT_CAP", 3)
    monkeypatch.setitem(app.config, "CATALOGUE_EXACT_COUNT_UP_TO", 0)
    page = get(client, "/instruments")
    assert 'data-total="3" data-capped="true"' in page and "共 3+ 台仪器" in page
    # Pages beyond what was counted show the last counted page.
    last = ids(get(client, "/instruments?page=99"))
    assert last == ids(get(client, "/instruments?page=2")) and len(last) == 2
    # A keyword with more matches than the cap takes the primary-key walk
    # on PostgreSQL; it must find the same rows as the index.
    assert ids(get(client, "/instruments?q=色谱")) == [catalogue.lc.id, catalogue.lcms.id]
    assert ids(get(client, "/instruments?q=chromatograph")) == [
        catalogue.lc.id,
        catalogue.lcms.id,
    ]
    assert 'data-total="3"' in get(client, "/instruments?q=色谱")
