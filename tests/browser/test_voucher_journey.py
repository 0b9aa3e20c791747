"""Issue 4 journey in a real browser, in real time, every step clicked
through the pages: the Jiading authority creates a 通兑 programme that
recognises a Suzhou provider; a Jiading firm applies with its certificate
and is granted less than it asked for; it books the Suzhou instrument paying
half with the voucher; the provider approves, records the use, the firm
confirms and rates; the provider claims the voucher share with its evidence;
the authority approves the claim, the month is settled and paid; the
provider downloads its statement (PDF and CSV).

Only the starting world (regions, organizations, users, the instrument) is
made with factories. One step is not a click: the settlement period cannot
be closed from the page while it is still running (the page refuses, and the
test checks it does), so the month is closed by the `vouchers.settle` job
through the Flask CLI with a --now at the end of the month, as the nightly
scheduler would do once the month is over.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from booking.accounts.models import Organization, OrgKind, Region, User
from booking.extensions import db
from booking.orders.clock import local
from booking.orders.models import OrderStatus
from instruments.models import Instrument
from tests.browser.helpers import earliest_free_slot, local_input, sign_in
from vouchers.models import Claim, ClaimStatus, SettlementCycle
from vouchers.settlement import period_of

# A PDF as the upload check sees one: its first bytes decide.
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def _pdf(name: str) -> dict[str, Any]:
    return {"name": name, "mimeType": "application/pdf", "buffer": PDF}


def _fen(text: str) -> int:
    """'¥1,234.50' (as the pages show money) -> 123450."""
    match = re.search(r"¥\s*([0-9,]+)\.([0-9]{2})", text)
    assert match, f"no amount in {text!r}"
    return int(match[1].replace(",", "")) * 100 + int(match[2])


class Desks:
    """One browser context per actor, signed in, and screenshots of every
    open page when a step fails (kept under pytest's tmp_path)."""

    def __init__(self, browser: Any, live_server: str, shots: Path) -> None:
        self.browser, self.live_server, self.shots = browser, live_server, shots
        self.contexts: list[Any] = []
        self.pages: dict[str, Any] = {}

    def open(self, who: str, user: User) -> Any:
        context = self.browser.new_context(base_url=self.live_server, locale="zh-CN")
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        self.pages[who] = page
        sign_in(page, user.email)
        return page

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.shots.mkdir(parents=True, exist_ok=True)
            for who, page in self.pages.items():
                with suppress(Exception):
                    page.screenshot(path=str(self.shots / f"{name}-{who}.png"), full_page=True)
            raise

    def close(self) -> None:
        for context in self.contexts:
            with suppress(Exception):
                context.close()


@pytest.fixture
def desks(browser: Any, live_server: str, tmp_path: Path) -> Iterator[Desks]:
    opened = Desks(browser, live_server, tmp_path / "screenshots")
    yield opened
    opened.close()


def _nav(page: Any, href: str) -> None:
    """Follow an entry of the navigation bar, as a user would."""
    page.click(f"#mainnav a.nav-link[href='{href}']")
    page.wait_for_load_state()


def _submit(page: Any, selector: str) -> None:
    page.click(selector)
    page.wait_for_load_state()


def _id_in(page: Any, pattern: str) -> int:
    """The id in the page's URL after a form went through (else the page's
    own words on why it did not)."""
    match = re.search(pattern, page.url)
    assert match, page.inner_text("#content")
    return int(match[1])


def _download(page: Any, link: Any) -> tuple[str, bytes, str]:
    """Click a download link: the file's suggested name, its bytes, and the
    content type the server sent for it (the same URL fetched with the
    page's cookies)."""
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.failure() is None
    body = Path(download.path()).read_bytes()
    response = page.request.get(link.get_attribute("href"))
    assert response.ok
    return download.suggested_filename, body, response.headers["content-type"]


def test_voucher_programme_to_paid_provider_statement(
    app: Flask,
    desks: Desks,
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
) -> None:
    jiading = make_region("jiading", name_zh="嘉定区", name_en="Jiading", division_code="310114")
    suzhou = make_region("suzhou", name_zh="苏州市", name_en="Suzhou", division_code="320500")
    authority = make_org(kind=OrgKind.AUTHORITY, region=jiading, name_zh="嘉定区科学技术委员会")
    officer = make_user(org=authority)
    local_lab = make_org(kind=OrgKind.PROVIDER, region=jiading, name_zh="嘉定材料分析测试中心")
    lab = make_org(kind=OrgKind.PROVIDER, region=suzhou, name_zh="苏州纳米测试中心")
    lab_admin = make_user(org=lab)
    firm = make_org(kind=OrgKind.ENTERPRISE, region=jiading, name_zh="上海嘉定新材料科技有限公司")
    firm_user = make_user(org=firm)
    instrument = make_instrument(
        provider=lab,
        name_zh="场发射扫描电镜",
        prices={"entrusted": 20_000},  # ¥200 an hour
        open_weekdays="1234567",
        open_from=time(0, 0),
        open_until=time(23, 59),
        slot_minutes=30,
        min_minutes=30,
        max_minutes=120,
        approval_required=True,
    )
    instrument.prices[0].lead_days = 0  # so the journey can run now, not next week
    db.session.commit()

    today = local(datetime.now(UTC)).date()
    code = f"JD-CXQ-{today.year}"
    reference = f"JDCZ-{today.year}-0001"

    # 1. The authority creates the programme: 50 %, caps, 通兑, both providers
    #    recognised (the Suzhou one across the region border), monthly cycle.
    desk = desks.open("authority", officer)
    with desks.step("1-programme"):
        _nav(desk, "/authority/vouchers/")
        _submit(desk, "#new-programme")
        assert desk.input_value("#fiscal_year") == str(today.year)
        desk.fill("#code", code)
        desk.fill("#name_zh", "嘉定区科技创新券")
        desk.fill("#name_en", "Jiading innovation vouchers")
        desk.select_option("#mode", "provider_redeems")
        desk.fill("#budget", "1000000")
        desk.fill("#subsidy_percent", "50")
        desk.fill("#enterprise_cap", "100000")
        desk.fill("#order_cap", "20000")
        desk.check("#eligible-kinds input[value='instrument_time']")
        choices = desk.locator("#providers option")
        labels = [choices.nth(i).inner_text() for i in range(choices.count())]
        wanted = [text for text in labels if lab.name_zh in text or local_lab.name_zh in text]
        assert any("苏州市" in text for text in wanted)  # another region's provider is offered
        desk.select_option("#providers", label=wanted)
        desk.fill("#applications_open_on", (today - timedelta(days=30)).isoformat())
        desk.fill("#applications_close_on", (today + timedelta(days=60)).isoformat())
        desk.fill("#valid_until", (today + timedelta(days=120)).isoformat())
        desk.fill("#claim_deadline", (today + timedelta(days=240)).isoformat())
        desk.select_option("#settlement_cycle", SettlementCycle.MONTHLY.value)
        _submit(desk, "#save-programme")
        assert desk.locator("#open-badge").is_visible()
        assert desk.inner_text("#budget") == "¥1,000,000.00"
        recognised = desk.inner_text("#recognised")
        assert lab.name_zh in recognised and local_lab.name_zh in recognised

    # 2. The firm applies for ¥5,000 with its certificate; the authority
    #    approves ¥3,000 from its applications queue.
    shop = desks.open("firm", firm_user)
    with desks.step("2-apply"):
        _nav(shop, "/my/vouchers/")
        shop.click(f"#open-programmes tr:has-text('{code}') a.btn")
        shop.wait_for_load_state()
        shop.fill("#amount", "5000")
        assert shop.input_value("#category") == "tech_sme"
        shop.fill("#certificate_no", "GR202531000888")
        shop.fill("#certificate_valid_from", (today - timedelta(days=200)).isoformat())
        shop.fill("#certificate_valid_until", (today + timedelta(days=900)).isoformat())
        shop.set_input_files("#evidence", _pdf("高新技术企业证书.pdf"))
        shop.fill("#purpose", "新材料样品的形貌表征")
        _submit(shop, "#submit-application")
        grant_id = _id_in(shop, r"/my/vouchers/grants/([0-9]+)$")

    with desks.step("2-approve"):
        _nav(desk, "/authority/vouchers/applications")
        row = desk.locator(f"#applications-table tr[data-grant-id='{grant_id}']")
        assert firm.name_zh in row.inner_text()
        row.get_by_role("link", name="审核详情").click()
        desk.wait_for_load_state()
        assert desk.inner_text("#requested") == "¥5,000.00"
        _, certificate, content_type = _download(desk, desk.locator("#certificate-link"))
        assert certificate.startswith(b"%PDF-") and content_type == "application/pdf"
        desk.fill("#approved_amount", "3000")
        _submit(desk, f"#approve-{grant_id}")
        assert desk.locator("#grant-status [data-status]").get_attribute("data-status") == (
            "approved"
        )
        assert desk.inner_text("#approved") == "¥3,000.00"

    # 3. The firm books the Suzhou instrument and pays half with the grant.
    with desks.step("3-book"):
        shop.goto(f"/instruments/{instrument.id}")
        _submit(shop, "#book-button")
        earliest_free_slot(shop).click()
        shop.wait_for_load_state()
        _submit(shop, "#quote-button")
        assert shop.inner_text("#quote-total td") == "¥100.00"  # 30 minutes at ¥200/h
        choice = shop.locator(f"#payment-choice input[value='grant:{grant_id}']")
        assert choice.is_enabled()
        option = shop.locator(
            "#payment-choice .payment-option",
            has=shop.locator(f"input[value='grant:{grant_id}']"),
        )
        assert "可用 ¥3,000.00" in option.inner_text()
        assert option.locator(".voucher-share").inner_text() == "创新券支付 ¥50.00"
        assert option.locator(".own-share").inner_text() == "自付 ¥50.00"
        choice.check()
        _submit(shop, "#confirm-booking")
        booking = shop.locator("#booking")
        booking_id = int(booking.get_attribute("data-booking-id"))
        assert booking.get_attribute("data-status") == OrderStatus.REQUESTED
        paid_by_voucher = shop.locator(".payment-line", has_text="创新券支付（通兑）")
        assert "¥50.00" in paid_by_voucher.inner_text()

    # 4. The provider approves, checks the firm in and records the use; the
    #    firm confirms and rates, which uses the voucher share.
    bench = desks.open("provider", lab_admin)
    with desks.step("4-use"):
        _nav(bench, "/provider/requests")
        bench.locator(f"tr[data-booking-id='{booking_id}']").get_by_role(
            "link", name=f"#{booking_id}", exact=True
        ).click()
        bench.wait_for_load_state()
        assert "创新券支付（通兑）" in bench.inner_text("body")
        _submit(bench, f"#approve-{booking_id}")
        checked_in = datetime.now(UTC) - timedelta(minutes=2)
        bench.fill("#checkin-form input[name=checked_in_at]", local_input(checked_in))
        _submit(bench, "#checkin-form button[type=submit]")
        bench.fill("#usage-form input[name=checked_out_at]", local_input(datetime.now(UTC)))
        _submit(bench, "#usage-form button[type=submit]")

        _nav(shop, "/my/orders")
        shop.locator(f"tr[data-booking-id='{booking_id}']").get_by_role(
            "link", name=f"#{booking_id}", exact=True
        ).click()
        shop.wait_for_load_state()
        assert shop.locator("#booking").get_attribute("data-status") == OrderStatus.COMPLETED
        shop.select_option("#rating", "5")
        _submit(shop, "#confirm-usage")
        assert shop.locator("#booking").get_attribute("data-status") == OrderStatus.CLOSED
        charge_fen = _fen(shop.inner_text("#charge td"))
        assert charge_fen >= 10_000  # billed from the early check-in to the booked end
        _nav(shop, "/my/vouchers/")
        grant_row = shop.locator(f"#wallet-grants tr[data-grant-id='{grant_id}']")
        assert grant_row.locator("[data-field=used]").inner_text() == "¥50.00"
        assert grant_row.locator("[data-field=available]").inner_text() == "¥2,950.00"

    # 5. The provider claims the used voucher share with its evidence.
    with desks.step("5-claim"):
        _nav(bench, "/claims/")
        use_row = bench.locator("#claimable-table tr[data-use-id]", has_text=f"#{booking_id}")
        assert "¥50.00" in use_row.inner_text()
        use_row.get_by_role("link", name="申请兑付").click()
        bench.wait_for_load_state()
        contract_fen = _fen(bench.inner_text("#contract-amount"))
        assert contract_fen == charge_fen
        bench.fill("#invoice_number", "32050012345678")
        bench.fill("#invoice_amount", f"{contract_fen // 100}.{contract_fen % 100:02d}")
        bench.fill("#payee_account_name", lab.name_zh)
        bench.fill("#payee_bank", "中国银行苏州工业园区支行")
        bench.fill("#payee_account_no", "5123 4567 8901 2345")
        bench.set_input_files("#contract", _pdf("技术服务合同.pdf"))
        bench.set_input_files("#invoice", _pdf("增值税发票.pdf"))
        bench.set_input_files("#payment_proof", _pdf("企业付款凭证.pdf"))
        _submit(bench, "#submit-claim")
        assert bench.locator("#claim-status").get_attribute("data-status") == "submitted"
        assert bench.inner_text("#claim-amount") == "¥50.00"
        claim_id = _id_in(bench, r"/claims/([0-9]+)$")
        assert bench.locator("#evidence-list a").count() == 3

    # 6. The authority approves the claim. Its month cannot be closed from the
    #    settlement page while the month runs (the page says so); the job
    #    closes it at the month's end, and the authority records the payment.
    with desks.step("6-approve-claim"):
        _nav(desk, "/authority/settlement/claims")
        desk.locator("#claims-table").get_by_role("link", name=f"#{claim_id}", exact=True).click()
        desk.wait_for_load_state()
        _submit(desk, "#approve")
        assert desk.locator("#claim-status").get_attribute("data-status") == "approved"

    db.session.rollback()
    claim = db.session.get(Claim, claim_id)
    assert claim is not None and claim.status == ClaimStatus.APPROVED
    assert claim.approved_at is not None
    period = period_of(claim.approved_at, SettlementCycle.MONTHLY)
    db.session.rollback()  # no transaction of the test's open while the job writes

    with desks.step("6-settle"):
        _nav(desk, "/authority/settlement/batches")
        assert "1 笔" in desk.inner_text("#waiting")
        desk.fill("#period", period.label)
        _submit(desk, "#close-period")
        assert "尚未结束" in desk.inner_text("#close-form")

        month_end = period.ends_at.isoformat()
        result = app.test_cli_runner().invoke(
            args=["jobs", "run", "vouchers.settle", "--period", period.label, "--now", month_end]
        )
        assert result.exit_code == 0, result.output

        _nav(desk, "/authority/settlement/batches")
        desk.locator("#batches-table").get_by_role("link", name=period.label, exact=True).click()
        desk.wait_for_load_state()
        assert desk.inner_text("#batch-total") == "¥50.00"
        assert lab.name_zh in desk.inner_text("#statement-table")
        desk.fill("#reference", reference)
        _submit(desk, "#record-payment")
        assert desk.locator("#batch-status").get_attribute("data-status") == "paid"

    # 7. The provider opens its statement and downloads it as PDF and CSV.
    with desks.step("7-statement"):
        _nav(bench, "/claims/")
        _submit(bench, "#recent-statements a:text('全部结算单')")
        row = bench.locator("#statements-table tr[data-batch-id]", has_text=period.label)
        assert "¥50.00" in row.inner_text() and reference in row.inner_text()
        name, body, content_type = _download(bench, row.get_by_role("link", name="PDF"))
        assert name == f"statement-{period.label}.pdf"
        assert content_type == "application/pdf" and body.startswith(b"%PDF-")
        name, body, content_type = _download(bench, row.get_by_role("link", name="CSV"))
        assert name.endswith(".csv") and content_type.startswith("text/csv")
        text = body.decode("utf-8-sig")
        assert "32050012345678" in text and "50.00" in text and firm.name_zh in text

        row.get_by_role("link", name=period.label, exact=True).click()
        bench.wait_for_load_state()
        assert bench.inner_text("#statement-total") == "¥50.00"
        assert reference in bench.content()

    db.session.rollback()
    paid = db.session.get(Claim, claim_id)
    assert paid is not None and paid.status == ClaimStatus.PAID
    assert paid.batch is not None and paid.batch.period == period.label
