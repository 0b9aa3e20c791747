"""Issue 2 journeys in a real browser: find an instrument; register a firm
and have it verified; a provider edits its own instrument only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from booking.accounts import uscc
from booking.accounts.models import Organization, OrgKind, Region, User
from booking.extensions import db
from instruments.models import Instrument
from tests.browser.helpers import sign_in, sign_out


def test_visitor_searches_chromatography_and_opens_the_instrument(
    page: Any, make_instrument: Callable[..., Instrument]
) -> None:
    wanted = make_instrument(name_zh="高效液相色谱仪", name_en="HPLC", model="LC-2030")
    make_instrument(name_zh="扫描电子显微镜", name_en="SEM", classification_code="010101")
    db.session.commit()

    page.goto("/")
    assert page.locator("[data-figure=instruments]").inner_text() == "2"
    page.fill("#home-search", "色谱")
    page.press("#home-search", "Enter")
    page.wait_for_load_state("networkidle")
    assert "q=%E8%89%B2%E8%B0%B1" in page.url  # a shareable URL for the search
    rows = page.locator("#results [data-instrument-id]")
    assert rows.count() == 1
    rows.first.locator("a").first.click()
    page.wait_for_load_state("networkidle")
    assert page.url.endswith(f"/instruments/{wanted.id}")
    assert "高效液相色谱仪" in page.inner_text("h1")
    assert "LC-2030" in page.content()

    page.click("#lang-switch")
    page.wait_for_load_state("networkidle")
    assert "HPLC" in page.inner_text("h1")


def test_firm_registers_authority_verifies_firm_signs_in(
    page: Any,
    browser: Any,
    live_server: str,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
) -> None:
    region = make_region("jiading", name_zh="嘉定区", division_code="310114")
    authority = make_user(org=make_org(kind=OrgKind.AUTHORITY, region=region, name_zh="嘉定区科委"))
    db.session.commit()
    code = uscc.make("310114", 777001)

    page.goto("/register")
    page.fill("#name_zh", "上海测试新材料有限公司")
    page.fill("#uscc", code)
    page.select_option("#region_id", str(region.id))
    page.select_option("#enterprise_category", "tech_sme")
    page.fill("#controller_name", "张三")
    page.fill("#contact_name", "李四")
    page.fill("#contact_phone", "021-59990000")
    page.fill("#email", "founder@newmaterials.cn")
    page.fill("#password", "Sufficiently-long-9")
    page.fill("#confirm", "Sufficiently-long-9")
    page.click("#register-button")
    page.wait_for_load_state("networkidle")
    assert page.locator("#status-banner").get_attribute("data-status") == "pending"
    sign_out(page)

    reviewer = browser.new_context(base_url=live_server, locale="zh-CN")
    review = reviewer.new_page()
    sign_in(review, authority.email)
    review.goto("/admin/enterprises")
    review.click("text=上海测试新材料有限公司")
    review.wait_for_load_state("networkidle")
    review.click("#verify-button")
    review.wait_for_load_state("networkidle")
    assert review.locator("#status-banner").get_attribute("data-status") == "verified"
    reviewer.close()

    sign_in(page, "founder@newmaterials.cn", "Sufficiently-long-9")
    assert page.locator("#status-banner").get_attribute("data-status") == "verified"


def test_provider_edits_its_own_instrument_and_not_anothers(
    page: Any,
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
) -> None:
    lab = make_org(kind=OrgKind.PROVIDER, name_zh="嘉定测试中心")
    staff = make_user(org=lab, role="staff")
    own = make_instrument(provider=lab, name_zh="气相色谱仪", prices={"entrusted": 25_000})
    other = make_instrument(name_zh="别家的质谱仪")
    db.session.commit()

    sign_in(page, staff.email)
    page.goto("/provider/instruments")
    page.click(f"[data-instrument-id='{own.id}'] a[href$='/edit']")
    page.wait_for_load_state("networkidle")
    page.fill("#name_zh", "气相色谱仪（升级版）")
    page.fill("#price_entrusted", "300.50")
    page.click("#save-button")
    page.wait_for_load_state("networkidle")
    assert "气相色谱仪（升级版）" in page.content()

    db.session.rollback()  # end this thread's read snapshot; see what the server wrote
    edited = db.session.get(Instrument, own.id)
    assert edited is not None and edited.name_zh == "气相色谱仪（升级版）"
    assert edited.price_for("entrusted").price_fen_per_hour == 30_050  # type: ignore[union-attr]

    response = page.goto(f"/provider/instruments/{other.id}/edit")
    assert response is not None and response.status == 404
    assert "页面不存在" in page.inner_text("#error-message")
