"""Writing cells that spreadsheets will not run as formulas.

Exports carry text other tenants typed (a firm's name, a user's name). A
cell starting with = + - @ or a control character is a formula to Excel; an
attacker's `=HYPERLINK(...)` would run in the provider's spreadsheet.
"""

from __future__ import annotations

import re
from typing import Any

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def csv_cell(value: Any) -> str:
    """The CSV text of a value; formula-like text gets a leading apostrophe."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def keep_text(sheet: Any, min_row: int = 1) -> None:
    """Mark every string cell of an openpyxl sheet that looks like a formula
    as plain text (openpyxl stores "=..." strings as formulas otherwise)."""
    for row in sheet.iter_rows(min_row=min_row):
        for cell in row:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
