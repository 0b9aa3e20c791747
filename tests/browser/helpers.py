"""Small steps shared by the browser journeys."""

from __future__ import annotations

from typing import Any

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
