"""Locale and time-zone selection, plus display helpers for templates.

zh-Hans is the default for everyone; English is chosen explicitly (the
language switch in every page's header) and remembered in the session and,
for signed-in users, on their account.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import current_app, has_request_context, session
from flask_babel import format_datetime, get_locale
from flask_login import current_user

SHANGHAI = ZoneInfo("Asia/Shanghai")


def select_locale() -> str:
    languages = current_app.config["LANGUAGES"]
    if not has_request_context():  # jobs, CLI, tests of services
        return str(current_app.config["BABEL_DEFAULT_LOCALE"])
    chosen = session.get("locale")
    if chosen in languages:
        return str(chosen)
    if current_user and current_user.is_authenticated and current_user.locale in languages:
        return str(current_user.locale)
    return str(current_app.config["BABEL_DEFAULT_LOCALE"])


def select_timezone() -> str:
    return "Asia/Shanghai"


def current_locale() -> str:
    return str(get_locale() or "zh_Hans")


def is_english() -> bool:
    return current_locale().startswith("en")


def money(fen: int | None, unit: bool = True) -> str:
    """Integer fen as yuan with two decimals: 123456 -> '¥1,234.56'."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(int(fen)), 100)
    text = f"{sign}{yuan:,}.{cents:02d}"
    return f"¥{text}" if unit else text


def wan_yuan(fen: int | None) -> str:
    """National reports give 原值 in 万元 with two decimals."""
    if fen is None:
        return "—"
    return f"{fen / 1_000_000:,.2f}"


def local_datetime(value: datetime | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """An aware UTC datetime shown in Asia/Shanghai."""
    if value is None:
        return "—"
    return str(format_datetime(value, fmt))
