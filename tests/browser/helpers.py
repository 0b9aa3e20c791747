"""Small steps shared by the browser journeys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from booking.orders.clock import local
from tests.conftest import PASSWORD


def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", password)
    page.click("#login-button")
    page.wait_for_load_state("networkidle")


def sign_out(page: Any) -> None:
    page.click("#user-menu")
    page.click("#logout-button")
    page.wait_for_load_state("networkidle")


def local_input(moment: datetime) -> str:
    """`moment` as a datetime-local input takes it (Asia/Shanghai)."""
    return local(moment).strftime("%Y-%m-%dT%H:%M")


def earliest_free_slot(page: Any) -> Any:
    """The earliest free slot of the booking page's week calendar (next week's
    when none is left in this one)."""
    slots = page.locator("#week-calendar a.slot-free")
    if slots.count() == 0:  # late on Sunday: the next slot is in next week
        page.click("#next-week")
        page.wait_for_load_state("networkidle")
        slots = page.locator("#week-calendar a.slot-free")
    starts = [slots.nth(i).get_attribute("data-start") for i in range(slots.count())]
    return page.locator(f"#week-calendar a.slot-free[data-start='{min(starts)}']")
