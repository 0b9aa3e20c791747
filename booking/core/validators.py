"""Form validators shared by every package's forms."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

# Control characters never belong in user text (PostgreSQL refuses NUL
# outright). Multi-line fields and files may hold tab and line breaks.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINE_BREAKS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def has_control_characters(text: str, allow_line_breaks: bool = False) -> bool:
    pattern = _CONTROL_BUT_LINE_BREAKS if allow_line_breaks else _CONTROL
    return bool(pattern.search(text))


def plain_text(form: Any, field: Any) -> None:
    """WTForms validator: no control characters (line breaks allowed). They
    come from pasted or imported data, and PostgreSQL refuses NUL outright."""
    value = field.data
    if isinstance(value, str) and has_control_characters(value, allow_line_breaks=True):
        raise ValidationError(_l("包含不可见的控制字符，请删除后再试。"))


def strip_control_characters(text: str) -> str:
    return _CONTROL.sub("", text)


EARLIEST_YEAR = 1950
LATEST_YEAR = 2100


def plausible_year(form: Any, field: Any) -> None:
    """Dates and times between 1950 and 2100: year 1 or 9999 is a typing slip,
    and converting it across time zones would overflow."""
    value = field.data
    if isinstance(value, date | datetime) and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValidationError(
            _l("日期须在 %(lo)d 年至 %(hi)d 年之间。", lo=EARLIEST_YEAR, hi=LATEST_YEAR)
        )
