"""Writing cells that spreadsheets will not run as formulas.

Exports carry text other tenants typed (a firm's name, a user's name). A
cell starting with = + - @ or a control character is a formula to Excel; an
attacker's `=HYPERLINK(...)` would run in the provider's spreadsheet.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from flask import abort, request, send_file
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from openpyxl import Workbook
from openpyxl.styles import Font

from booking.i18n import SHANGHAI

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

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


def yuan_text(fen: int | None) -> str:
    """Fen as plain yuan for files: 123456 -> '1234.56'."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(int(fen)), 100)
    return f"{sign}{whole}.{cents:02d}"


def yuan_cell(fen: int, xlsx: bool) -> Decimal | str:
    """A money cell: an exact number of yuan in XLSX (so sums work in the
    sheet), plain text elsewhere. Never a float: 0.1 + 0.2 must stay 0.30."""
    return Decimal(fen).scaleb(-2) if xlsx else yuan_text(fen)


def local_text(moment: datetime | None) -> str:
    """A moment as Beijing time for files: '2026-12-01 08:00'."""
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if moment else ""


def export_format() -> str:
    """The ?format= of an export request: csv (default) or xlsx; else 400."""
    fmt = request.args.get("format", "csv")
    if fmt not in ("csv", "xlsx"):
        abort(400, description=_("format 只能是 csv 或 xlsx。"))
    return fmt


def download(
    name: str,
    fmt: str,
    header: Sequence[Any],
    rows: Sequence[Sequence[Any]],
    sheet: str,
    extra_sheets: Sequence[tuple[str, Sequence[Any], Sequence[Sequence[Any]]]] = (),
) -> ResponseReturnValue:
    """An export as an attachment: CSV (UTF-8 with BOM, which Excel needs for
    Chinese) or XLSX with one sheet per part; formula-like text stays text."""
    if fmt == "xlsx":
        workbook = Workbook()
        bold = Font(bold=True)
        for index, (title, head, body) in enumerate(((sheet, header, rows), *extra_sheets)):
            ws = workbook.active if index == 0 else workbook.create_sheet()
            ws.title = title
            ws.append([str(h) for h in head])
            for cell in ws[1]:
                cell.font = bold
            for row in body:
                ws.append(list(row))
            keep_text(ws)
        buffer = io.BytesIO()
        workbook.save(buffer)
        data, mimetype = buffer.getvalue(), XLSX_MIMETYPE
    else:
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([csv_cell(h) for h in header])
        for row in rows:
            writer.writerow([csv_cell(v) for v in row])
        data, mimetype = out.getvalue().encode("utf-8-sig"), "text/csv"
    response = send_file(
        io.BytesIO(data), mimetype=mimetype, as_attachment=True, download_name=f"{name}.{fmt}"
    )
    response.headers["Cache-Control"] = "no-store"
    return response
