"""Issue 3 journey in a real browser, in real time: a firm books the next
free slot, a second firm sees it gone, the provider approves, checks the
firm in and records usage, and the firm confirms and rates the service."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from booking.accounts.models import Organization, OrgKind, User
from booking.extensions import db
from booking.orders.models import Booking, OrderStatus
from instruments.models import Instrument
from tests.browser.helpers import earliest_free_slot, local_input, sign_in


def test_firm_books_provider_approves_and_records_usage_firm_rates(
    page: Any,
    browser: Any,
    live_server: str,
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
    make_instrument: Callable[..., Instrument],
) -> None:
    lab = make_org(kind=OrgKind.PROVIDER, name_zh="苏州纳米测试中心")
    staff = make_user(org=lab, role="staff")
    instrument = make_instrument(
        provider=lab,
        name_zh="场发射扫描电镜",
        prices={"entrusted": 20_000},
        open_weekdays="1234567",
        open_from=time(0, 0),
        open_until=time(23, 59),
        slot_minutes=30,
        min_minutes=30,
        max_minutes=120,
        approval_required=True,
    )
    instrument.prices[0].lead_days = 0  # so the journey can run now, not next week
    firm = make_user(kind=OrgKind.ENTERPRISE)
    rival = make_user(kind=OrgKind.ENTERPRISE)
    db.session.commit()

    # The firm picks the earliest free slot, sees the quote, confirms.
    sign_in(page, firm.email)
    page.goto(f"/instruments/{instrument.id}")
    page.click("#book-button")
    page.wait_for_load_state("networkidle")
    slot = earliest_free_slot(page)
    start_iso = slot.get_attribute("data-start")
    slot.click()
    page.wait_for_load_state("networkidle")
    page.click("#quote-button")
    page.wait_for_load_state("networkidle")
    assert "¥100.00" in page.inner_text("#quote-total")
    page.click("#confirm-booking")
    page.wait_for_load_state("networkidle")
    booking_id = int(page.locator("#booking").get_attribute("data-booking-id"))
    assert page.locator("#booking").get_attribute("data-status") == OrderStatus.REQUESTED

    # A second firm sees that slot gone from the calendar.
    rival_context = browser.new_context(base_url=live_server, locale="zh-CN")
    rival_page = rival_context.new_page()
    sign_in(rival_page, rival.email)
    rival_page.goto(f"/instruments/{instrument.id}/book")
    rival_page.wait_for_load_state("networkidle")
    if (
        rival_page.locator(f"a.slot-free[data-start='{start_iso}']").count() == 0
        and rival_page.locator("#week-calendar").inner_text().count("已约") == 0
    ):
        rival_page.click("#next-week")
        rival_page.wait_for_load_state("networkidle")
    assert rival_page.locator(f"a.slot-free[data-start='{start_iso}']").count() == 0
    assert rival_page.locator("#week-calendar .slot-taken").count() >= 1
    rival_context.close()

    # The provider approves it from the queue, then checks the firm in and out.
    desk_context = browser.new_context(base_url=live_server, locale="zh-CN")
    desk = desk_context.new_page()
    sign_in(desk, staff.email)
    desk.goto("/provider/requests")
    desk.click(f"#approve-{booking_id}")
    desk.wait_for_load_state("networkidle")
    desk.goto(f"/provider/bookings/{booking_id}")
    now = datetime.now(UTC)
    desk.fill("#checkin-form input[name=checked_in_at]", local_input(now - timedelta(minutes=2)))
    desk.click("#checkin-form button[type=submit]")
    desk.wait_for_load_state("networkidle")
    desk.fill("#usage-form input[name=checked_out_at]", local_input(datetime.now(UTC)))
    desk.click("#usage-form button[type=submit]")
    desk.wait_for_load_state("networkidle")
    desk_context.close()

    db.session.rollback()
    booking = db.session.get(Booking, booking_id)
    assert booking is not None and booking.status == OrderStatus.COMPLETED
    # Checked in before the booked start (allowed up to an hour early): billed
    # from check-in to the booked end, at ¥200/h.
    assert booking.checked_in_at is not None
    billed = booking.ends_at - min(booking.checked_in_at, booking.starts_at)
    minutes = int(billed.total_seconds() // 60)
    assert booking.charge_fen == (20_000 * minutes + 30) // 60

    # The firm confirms and rates the delivered service.
    page.goto(f"/my/orders/booking/{booking_id}")
    page.select_option("#rating", "5")
    page.click("#confirm-usage")
    page.wait_for_load_state("networkidle")
    assert page.locator("#booking").get_attribute("data-status") == OrderStatus.CLOSED
    db.session.rollback()
    closed = db.session.get(Booking, booking_id)
    assert closed is not None and closed.rating == 5
