"""Form validators shared by every package's forms."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms.validators import ValidationError

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
