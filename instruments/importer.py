"""Catalogue import and export: CSV or XLSX files of instruments or service
items, in the columns of the downloadable template.

An upload is checked by its content, not its name: an XLSX file must be a
zip that openpyxl can read, a CSV file must decode as text (UTF-8 with or
without BOM, else GB18030, which many Chinese Excel exports use). Every row
is validated with the same form class as the web page and then by the same
catalogue services; errors are collected as (row, column, message) with the
row number the user sees in the spreadsheet. Nothing is written unless the
whole file is valid: the import runs inside a savepoint that is rolled back
when any row fails, so the caller may commit or not. New rows are created,
rows whose internal number (instruments) or code (service items) already
exists in the provider's catalogue update it.

Export writes the provider's catalogue in the template's columns, so export
→ edit → import round-trips.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import PurePosixPath
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    TimeField,
)

from booking.accounts.models import Organization, User
from booking.audit.services import record
from booking.core.spreadsheets import keep_text
from booking.core.validators import has_control_characters
from booking.errors import DomainError
from booking.extensions import db, utcnow
from instruments import services as catalogue
from instruments.forms import CatalogueForm, InstrumentForm, ServiceItemForm, choice_pairs
from instruments.models import Instrument, ServiceItem

KINDS: dict[str, type[CatalogueForm]] = {
    "instruments": InstrumentForm,
    "services": ServiceItemForm,
}
# The column that matches a row to an existing catalogue entry.
KEY_COLUMN = {"instruments": "internal_no", "services": "code"}
FORMATS = ("csv", "xlsx")
MAX_ERRORS_KEPT = 1000
# An XLSX is compressed; refuse one that inflates to more than this many times
# the upload limit (a zip bomb, or a sheet far beyond the row limit anyway).
MAX_INFLATION = 40

# A blank cell in a column that always has a value (required fields, yes/no,
# choices, weekdays) keeps the entry's current value, or the default for a new
# entry; a blank optional cell (a price, a weekly cap) clears it.
KEEP_WHEN_BLANK = frozenset({"bool", "select", "weekdays"})
TRUE_WORDS = frozenset({"是", "y", "yes", "true", "1", "√", "✓", "对"})
FALSE_WORDS = frozenset({"否", "n", "no", "false", "0", "×", "✗", "不", ""})
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF", "PDF"),
    (b"\x89PNG", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"\xd0\xcf\x11\xe0", "Excel 97-2003 (.xls)"),
    (b"Rar!", "RAR"),
    (b"\x1f\x8b", "gzip"),
    (b"7z\xbc\xaf", "7z"),
)
_HEADER_KEY = re.compile(r"\(([A-Za-z][A-Za-z0-9_]*)\)$")
_WEEKDAY_SEPARATORS = re.compile(r"[\s,，、;；/]+")


class ImportFileError(DomainError):
    """The file as a whole cannot be imported (type, size, encoding, row count)."""

    code = "bad_file"


@dataclass(frozen=True)
class CellError:
    row: int  # as the spreadsheet shows it: the header is row 1
    column: str  # the header as written in the file, or the column's label
    message: str
    letter: str = ""  # spreadsheet column letter, when the column is in the file


@dataclass
class ImportResult:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[CellError] = field(default_factory=list)
    error_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0

    def add_error(self, error: CellError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)


# --- columns -----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    kind: str  # text, bool, weekdays, select, decimal, int, date, time
    label: Any  # lazy string
    required: bool
    description: Any
    choices: tuple[tuple[str, Any], ...] = ()

    def header(self) -> str:
        return f"{self.label}({self.key})"


def _column_kind(f: Any) -> str:
    # Order matters: SelectMultipleField is not a SelectField, TimeField and
    # DateField are distinct DateTimeField subclasses.
    if isinstance(f, BooleanField):
        return "bool"
    if isinstance(f, SelectMultipleField):
        return "weekdays"
    if isinstance(f, SelectField):
        return "select"
    if isinstance(f, DecimalField):
        return "decimal"
    if isinstance(f, IntegerField):
        return "int"
    if isinstance(f, TimeField):
        return "time"
    if isinstance(f, DateField):
        return "date"
    return "text"


def _blank_form(kind: str, **kwargs: Any) -> CatalogueForm:
    return KINDS[kind](formdata=None, meta={"csrf": False}, **kwargs)


def columns(kind: str) -> list[Column]:
    """The template's columns, in form order: one per form field."""
    return form_columns(_blank_form(kind))


def form_columns(form: Any) -> list[Column]:
    """A form's fields as import columns, in form order (CSRF left out).
    Other importers (internal instrument use) describe their files this way."""
    out = []
    for f in form:
        if f.name == "csrf_token":
            continue
        out.append(
            Column(
                key=f.name,
                kind=_column_kind(f),
                label=f.label.text,
                required=bool(f.flags.required),
                description=f.description,
                choices=tuple(choice_pairs(f)) if hasattr(f, "choices") else (),
            )
        )
    return out


# --- reading a file ------------------------------------------------------------------


@dataclass
class Table:
    header_row: int
    header: list[str]
    rows: list[tuple[int, list[Any]]]  # (spreadsheet row number, cell values)


def _is_blank(cells: Sequence[Any]) -> bool:
    return all(c is None or (isinstance(c, str) and not c.strip()) for c in cells)


def read_table(filename: str, content: bytes, *, max_bytes: int, max_rows: int) -> Table:
    """Parse an uploaded file into a header and data rows. Raises
    ImportFileError when the file is not a CSV or XLSX table within limits."""
    if len(content) > max_bytes:
        raise ImportFileError(_l("文件太大：不能超过 %(size)s。", size=_human_size(max_bytes)))
    suffix = PurePosixPath((filename or "").replace("\\", "/")).suffix.lower()
    if suffix == ".xls":
        raise ImportFileError(_l("不支持旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV 后再上传。"))
    if suffix not in (".csv", ".xlsx"):
        raise ImportFileError(_l("只能导入 CSV 或 XLSX 文件。"))
    if not content.strip():
        raise ImportFileError(_l("文件是空的。"))
    if zipfile.is_zipfile(io.BytesIO(content)):
        # The content decides: an XLSX workbook saved under a .csv name is read as XLSX.
        rows = _xlsx_rows(content, max_bytes)
    elif suffix == ".xlsx":
        raise ImportFileError(_l("文件扩展名是 .xlsx，但内容不是 Excel 工作簿。"))
    else:
        rows = _csv_rows(content)
    return _collect(rows, max_rows)


def _human_size(n: int) -> str:
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    return f"{max(1, n // 1024)} KB"


def _collect(rows: Iterator[tuple[int, list[Any]]], max_rows: int) -> Table:
    header_row = 0
    header: list[str] = []
    data: list[tuple[int, list[Any]]] = []
    for number, cells in rows:
        if _is_blank(cells):
            continue
        if not header_row:
            header_row, header = number, [cell_text(c) for c in cells]
            continue
        if len(data) >= max_rows:
            raise ImportFileError(_l("数据行太多：一次最多导入 %(n)d 行，请拆分文件。", n=max_rows))
        data.append((number, cells))
    if not header_row:
        raise ImportFileError(_l("文件中没有表头行。"))
    return Table(header_row=header_row, header=header, rows=data)


def _xlsx_rows(content: bytes, max_bytes: int) -> Iterator[tuple[int, list[Any]]]:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            inflated = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportFileError(_l("无法读取该 XLSX 文件，请确认它是 Excel 工作簿。")) from exc
    if "xl/workbook.xml" not in names:
        raise ImportFileError(_l("文件是压缩包，但不是 Excel 工作簿（XLSX）。"))
    if inflated > max_bytes * MAX_INFLATION:
        raise ImportFileError(_l("工作簿解压后过大，请删除多余内容或拆分文件。"))
    return _xlsx_stream(content)


def _xlsx_stream(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    """Rows of the first sheet, streamed (read-only mode), so the row limit
    stops reading early. A malformed workbook fails in many ways inside
    openpyxl; each becomes one clear message."""
    unreadable = _l("无法读取该 XLSX 文件，请确认它是 Excel 工作簿。")
    try:
        with warnings.catch_warnings():
            # openpyxl warns about styles and extensions it ignores; not the user's problem.
            warnings.simplefilter("ignore")
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:
        raise ImportFileError(unreadable) from exc
    try:
        try:
            rows = workbook.worksheets[0].iter_rows(values_only=True)
        except (IndexError, AttributeError) as exc:  # no sheet, or a chart sheet first
            raise ImportFileError(unreadable) from exc
        number = 0
        while True:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    values = next(rows)
            except StopIteration:
                return
            except Exception as exc:
                raise ImportFileError(unreadable) from exc
            number += 1
            yield number, list(values)
    finally:
        workbook.close()


def _decode(content: bytes) -> str:
    if content.startswith(b"\xef\xbb\xbf"):
        encodings: tuple[str, ...] = ("utf-8-sig",)
    elif content.startswith((b"\xff\xfe", b"\xfe\xff")):
        encodings = ("utf-16",)  # Excel's "Unicode text"
    else:
        encodings = ("utf-8", "gb18030")
    for encoding in encodings:
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ImportFileError(_l("无法识别文件编码：请保存为 UTF-8 或 GB18030 编码的 CSV。"))


def _csv_rows(content: bytes) -> Iterator[tuple[int, list[Any]]]:
    for signature, name in _BINARY_SIGNATURES:
        if content.startswith(signature):
            raise ImportFileError(_l("文件内容是 %(type)s，不是 CSV 表格。", type=name))
    text = _decode(content)
    if has_control_characters(text, allow_line_breaks=True):
        raise ImportFileError(_l("文件包含二进制内容，不是 CSV 表格。"))
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = ","
    if "," not in first_line:
        if "\t" in first_line:
            delimiter = "\t"
        elif ";" in first_line:
            delimiter = ";"
    try:
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise ImportFileError(_l("CSV 格式有误：%(detail)s", detail=str(exc))) from exc
    # Excel shows one CSV record per row, even when a quoted cell spans lines.
    return ((number, list(cells)) for number, cells in enumerate(records, start=1))


def cell_text(value: Any) -> str:
    """A cell as text, the way the user typed it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, datetime):
        if value.time() == time(0, 0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, time):
        return value.strftime("%H:%M:%S" if value.second else "%H:%M")
    return str(value).strip()


# --- headers ----------------------------------------------------------------------


def _normalise(text: str) -> str:
    return re.sub(r"\s+", "", text.replace("（", "(").replace("）", ")")).lower()


def _header_lookup(cols: Sequence[Column]) -> dict[str, str]:
    """Accepted spellings of each column: key, label (Chinese and the current
    language), and "label(key)"."""
    lookup: dict[str, str] = {}
    for c in cols:
        for spelling in (c.key, *_spellings(c.label)):
            lookup.setdefault(_normalise(spelling), c.key)
            lookup.setdefault(_normalise(f"{spelling}({c.key})"), c.key)
    return lookup


def _spellings(label: Any) -> list[str]:
    """A label in the current language and in every language of the platform,
    so a file exported in English imports under Chinese and back."""
    spellings = [str(label)]
    for locale in current_app.config["LANGUAGES"]:
        with force_locale(locale):
            spellings.append(str(label))
    return spellings


def _map_header(
    table: Table, cols: Sequence[Column], kind: str, result: ImportResult
) -> dict[int, str]:
    return map_header(table, cols, result, required=(KEY_COLUMN[kind],))


def map_header(
    table: Table, cols: Sequence[Column], result: ImportResult, required: Sequence[str]
) -> dict[int, str]:
    """File column index -> column key. Unknown, duplicate and missing
    required headers are errors on the header row."""
    lookup = _header_lookup(cols)
    by_key = {c.key: c for c in cols}
    positions: dict[int, str] = {}
    seen: dict[str, int] = {}
    for index, raw in enumerate(table.header):
        if not raw:
            continue
        normal = _normalise(raw)
        match = _HEADER_KEY.search(normal)
        key = match.group(1) if match and match.group(1) in by_key else lookup.get(normal)
        letter = get_column_letter(index + 1)
        if key is None:
            result.add_error(CellError(table.header_row, raw, _("无法识别的列名。"), letter))
        elif key in seen:
            result.add_error(CellError(table.header_row, raw, _("列重复。"), letter))
        else:
            seen[key] = index
            positions[index] = key
    for key in required:
        if key not in seen:
            result.add_error(CellError(table.header_row, by_key[key].header(), _("缺少必需的列。")))
    return positions


# --- values between cells, forms and formdata ----------------------------------------


def _choice_labels(column: Column) -> dict[str, str]:
    """Accepted spellings of each choice -> its value."""
    spellings: dict[str, str] = {}
    for value, label in column.choices:
        for spelling in (value, *_spellings(label)):
            spellings.setdefault(_normalise(spelling), value)
    return spellings


def _to_formdata(column: Column, raw: Any, spellings: dict[str, str]) -> list[str]:
    """A cell as the form would have received it from the web page; raises
    ValueError with a message for cells no form input could have produced."""
    text = cell_text(raw)
    if column.kind == "bool":
        word = text.lower()
        if word in TRUE_WORDS or word == _("是"):
            return ["y"]
        if word in FALSE_WORDS or word == _("否"):
            return []
        raise ValueError(_("请填写“是”或“否”。"))
    if column.kind == "weekdays":
        return [ch for ch in _WEEKDAY_SEPARATORS.sub("", text)]
    if column.kind == "select":
        if not text:
            return [""]
        value = spellings.get(_normalise(text))
        if value is None:
            allowed = "、".join(str(label) for _v, label in column.choices)
            raise ValueError(_("可选值：%(allowed)s。", allowed=allowed))
        return [value]
    if column.key == "classification_code" and isinstance(raw, int | float) and text.isdigit():
        # Excel turns 010501 into the number 10501; the code has six digits.
        text = text.zfill(6)
    return [text]


def _form_value(column: Column, value: Any) -> list[str]:
    """A form's data as formdata (the base a row's cells are laid over)."""
    if value is None:
        return []
    if column.kind == "bool":
        return ["y"] if value else []
    if column.kind == "weekdays":
        return [str(v) for v in value]
    if column.kind == "time":
        return [value.strftime("%H:%M")]
    if column.kind == "date":
        return [value.isoformat()]
    return [str(value)]


def cell_value(column: Column, value: Any) -> Any:
    """A form's data as a spreadsheet cell (export)."""
    if column.kind == "bool":
        return _("是") if value else _("否")
    if value is None:
        return None
    if column.kind == "weekdays":
        return "".join(str(v) for v in value)
    if column.kind == "select":
        return next((str(label) for v, label in column.choices if v == str(value)), str(value))
    if column.kind == "time":
        return value.strftime("%H:%M")
    if column.kind == "date":
        return value.isoformat()
    if column.kind in ("decimal", "int"):
        return value
    return str(value)


# --- import --------------------------------------------------------------------------


def import_catalogue(
    provider: Organization,
    actor: User | None,
    kind: str,
    filename: str,
    content: bytes,
    *,
    max_bytes: int,
    max_rows: int,
    now: datetime | None = None,
) -> ImportResult:
    """Validate every row of the file, then create or update the provider's
    instruments (kind "instruments") or service items ("services") — all of
    them or, when any row is invalid, none. File-level problems raise
    ImportFileError; row problems are in the result's errors."""
    if kind not in KINDS:
        raise ImportFileError(_l("未知的导入类型。"))
    now = now or utcnow()
    table = read_table(filename, content, max_bytes=max_bytes, max_rows=max_rows)
    result = ImportResult(kind=kind, rows=len(table.rows))
    cols = columns(kind)
    by_key = {c.key: c for c in cols}
    positions = _map_header(table, cols, kind, result)
    if not result.ok:
        return result
    if not table.rows:
        raise ImportFileError(_l("文件中只有表头，没有数据行。"))

    key_index = next(i for i, k in positions.items() if k == KEY_COLUMN[kind])
    existing = _existing(
        kind,
        provider.id,
        [cell_text(cells[key_index]) if key_index < len(cells) else "" for _n, cells in table.rows],
    )
    blank = _blank_form(kind)
    run = _ImportRun(
        kind=kind,
        provider=provider,
        actor=actor,
        now=now,
        positions=positions,
        by_key=by_key,
        headers={key: (table.header[i], get_column_letter(i + 1)) for i, key in positions.items()},
        spellings={c.key: _choice_labels(c) for c in cols if c.kind == "select"},
        existing=existing,
        defaults={c.key: _form_value(c, blank[c.key].data) for c in cols},
        # One form, processed again for every row: binding ~50 fields is the
        # expensive part of a form, processing and validating are cheap.
        form=blank,
        result=result,
    )

    savepoint = db.session.begin_nested()
    try:
        for number, cells in table.rows:
            run.row(number, cells)
        if result.ok:
            record(
                actor,
                "catalogue.import",
                "organization",
                provider.id,
                now=now,
                kind=kind,
                filename=filename[:200],
                rows=result.rows,
                created=result.created,
                updated=result.updated,
                unchanged=result.unchanged,
            )
            db.session.flush()
    except (IntegrityError, DataError):
        savepoint.rollback()
        result.created = result.updated = result.unchanged = 0
        message = _("数据库拒绝了这一行，请检查各项取值；之后的行没有校验。")
        result.add_error(CellError(run.current_row, "—", message))
        return result
    except BaseException:
        savepoint.rollback()
        raise
    if result.ok:
        savepoint.commit()
    else:
        savepoint.rollback()
        result.created = result.updated = result.unchanged = 0
    return result


def _existing(kind: str, provider_id: int, keys: Iterable[str]) -> dict[str, Any]:
    wanted = sorted({k for k in keys if k})
    found: dict[str, Any] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        if kind == "instruments":
            stmt: Any = (
                select(Instrument)
                .where(Instrument.provider_id == provider_id, Instrument.internal_no.in_(chunk))
                .options(selectinload(Instrument.prices))
            )
            found.update({i.internal_no: i for i in db.session.scalars(stmt)})
        else:
            stmt = select(ServiceItem).where(
                ServiceItem.provider_id == provider_id, ServiceItem.code.in_(chunk)
            )
            found.update({s.code: s for s in db.session.scalars(stmt)})
    return found


@dataclass
class _ImportRun:
    """What every row of one import shares."""

    kind: str
    provider: Organization
    actor: User | None
    now: datetime
    positions: dict[int, str]  # file column index -> field key
    by_key: dict[str, Column]
    headers: dict[str, tuple[str, str]]  # field key -> (header as in the file, letter)
    spellings: dict[str, dict[str, str]]
    existing: dict[str, Any]  # key value -> the provider's instrument or service item
    defaults: dict[str, list[str]]  # formdata of a new entry
    form: Any
    result: ImportResult
    first_seen: dict[str, int] = field(default_factory=dict)
    current_row: int = 0

    def error(self, number: int, key: str | None, message: str) -> None:
        if key and key in self.headers:
            column, letter = self.headers[key]
        elif key and key in self.by_key:
            column, letter = str(self.by_key[key].label), ""
        else:
            column = _("服务方式与价格") if self.kind == "instruments" else "—"
            letter = ""
        self.result.add_error(CellError(number, column, message, letter))

    def row(self, number: int, cells: list[Any]) -> None:
        """Check one row (cells, then the form, then the services) and, when it
        is valid, create or update its entry."""
        key_name = KEY_COLUMN[self.kind]
        values: dict[str, list[str]] = {}
        row_ok = True
        for index, raw in enumerate(cells):
            key = self.positions.get(index)
            if key is None:
                if cell_text(raw):
                    letter = get_column_letter(index + 1)
                    self.result.add_error(CellError(number, letter, _("此列没有表头。"), letter))
                    row_ok = False
                continue
            column = self.by_key[key]
            if not cell_text(raw) and (column.required or column.kind in KEEP_WHEN_BLANK):
                continue  # blank where a value is needed: the current value or the default
            try:
                values[key] = _to_formdata(column, raw, self.spellings.get(key, {}))
            except ValueError as exc:
                self.error(number, key, str(exc))
                row_ok = False

        key_value = (values.get(key_name) or [""])[0].strip()
        target = self.existing.get(key_value) if key_value else None
        if key_value:
            if key_value in self.first_seen:
                message = _("与第 %(row)d 行重复。", row=self.first_seen[key_value])
                self.error(number, key_name, message)
                row_ok = False
            else:
                self.first_seen[key_value] = number

        # Columns missing from the file keep the entry's current value (or the default).
        if target is not None:
            current = KINDS[self.kind].initial_data(target)
            base = {c.key: _form_value(c, current.get(c.key)) for c in self.by_key.values()}
        else:
            base = self.defaults
        formdata: MultiDict[str, str] = MultiDict()
        for key in self.by_key:
            for v in values.get(key, base[key]):
                formdata.add(key, v)
        form = self.form
        form.process(formdata=formdata)
        if not form.validate():
            for key, messages in form.errors.items():
                for message in messages:
                    self.error(number, key, str(message))
            return
        if not row_ok:
            return

        save = _save_instrument if self.kind == "instruments" else _save_service_item
        self.current_row = number
        if target is None:
            # A refused create leaves nothing in the session (the services check
            # every rule before adding), so no savepoint is needed; they cost
            # more than the insert itself. A database refusal here means a rule
            # is missing: import_catalogue stops and rolls everything back.
            try:
                save(form, self.provider, self.actor, self.now, None, self.result)
            except DomainError as exc:
                self.error(number, form.error_fields.get(exc.field or "", exc.field), str(exc))
            return
        # An update changes the entry before a rule may refuse it: the savepoint
        # puts it back, so later rows are checked against the real state.
        try:
            with db.session.begin_nested():
                save(form, self.provider, self.actor, self.now, target, self.result)
        except DomainError as exc:
            self.error(number, form.error_fields.get(exc.field or "", exc.field), str(exc))
        except (IntegrityError, DataError):
            self.error(number, None, _("数据库拒绝了这一行，请检查各项取值。"))


def _save_instrument(
    form: Any,
    provider: Organization,
    actor: User | None,
    now: datetime,
    target: Instrument | None,
    result: ImportResult,
) -> None:
    fields = form.to_fields()
    prices, lead_days = form.to_prices()
    if target is None:
        catalogue.create_instrument(provider, fields, prices, actor, lead_days=lead_days, now=now)
        result.created += 1
        return
    same_fields = all(getattr(target, k) == v for k, v in fields.items())
    current = {p.mode: p for p in target.prices}
    same_prices = set(current) == set(prices) and all(
        current[m].price_fen_per_hour == fen
        and (m not in lead_days or current[m].lead_days == lead_days[m])
        for m, fen in prices.items()
    )
    if same_fields and same_prices:
        result.unchanged += 1
        return
    catalogue.update_instrument(target, fields, prices, actor, lead_days=lead_days, now=now)
    result.updated += 1


def _save_service_item(
    form: Any,
    provider: Organization,
    actor: User | None,
    now: datetime,
    target: ServiceItem | None,
    result: ImportResult,
) -> None:
    fields = form.to_fields()
    if target is None:
        catalogue.create_service_item(provider, fields, actor, now=now)
        result.created += 1
    elif all(getattr(target, k) == v for k, v in fields.items()):
        result.unchanged += 1
    else:
        catalogue.update_service_item(target, fields, actor, now=now)
        result.updated += 1


# --- export and template ----------------------------------------------------------------


def export_rows(kind: str, provider_id: int | None) -> tuple[list[Column], list[list[Any]]]:
    """The provider's catalogue as cell values in the template's columns
    (provider_id None: the empty template)."""
    cols = columns(kind)
    if provider_id is None:
        return cols, []
    form_cls = KINDS[kind]
    objects: Iterable[Any]
    if kind == "instruments":
        objects = db.session.scalars(
            select(Instrument)
            .where(Instrument.provider_id == provider_id)
            .options(selectinload(Instrument.prices))
            .order_by(Instrument.internal_no, Instrument.id)
        )
    else:
        objects = db.session.scalars(
            select(ServiceItem)
            .where(ServiceItem.provider_id == provider_id)
            .order_by(ServiceItem.code, ServiceItem.id)
        )
    rows = []
    for obj in objects:
        data = form_cls.initial_data(obj)
        rows.append([cell_value(c, data.get(c.key)) for c in cols])
    return cols, rows


def to_csv(cols: Sequence[Column], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with BOM, which Excel needs to show Chinese correctly."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.header() for c in cols])
    for row in rows:
        writer.writerow(["" if v is None else str(v) for v in row])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(kind: str, cols: Sequence[Column], rows: Iterable[Sequence[Any]]) -> bytes:
    """A workbook: the data sheet first (the one the importer reads), then a
    sheet that explains every column."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = _("仪器") if kind == "instruments" else _("服务项目")
    sheet.append([c.header() for c in cols])
    bold = Font(bold=True)
    for index, column in enumerate(cols, start=1):
        letter = get_column_letter(index)
        sheet.cell(row=1, column=index).font = bold
        sheet.column_dimensions[letter].width = max(12, min(40, len(column.header()) + 4))
        if column.kind == "text":
            # Keep codes such as 010501 and phone numbers as typed.
            sheet.column_dimensions[letter].number_format = "@"
        if column.kind in ("select", "bool"):
            options = (
                [str(label) for _v, label in column.choices]
                if column.kind == "select"
                else [_("是"), _("否")]
            )
            formula = '"' + ",".join(options) + '"'
            if len(formula) <= 255:
                validation = DataValidation(type="list", formula1=formula, allow_blank=True)
                validation.add(f"{letter}2:{letter}10000")
                sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"
    for values in rows:
        sheet.append(list(values))
    keep_text(sheet, min_row=2)  # a text that starts with "=" is data, not a formula

    notes = workbook.create_sheet(_("填写说明"))
    notes.append([_("列名"), _("是否必填"), _("说明")])
    for c in notes[1]:
        c.font = bold
    for column in cols:
        hint = str(column.description or "")
        if column.kind == "select":
            hint = (
                hint
                + " "
                + _(
                    "可选值：%(allowed)s。",
                    allowed="、".join(str(label) for _v, label in column.choices),
                )
            ).strip()
        elif column.kind == "bool":
            hint = (hint + " " + _("填写“是”或“否”。")).strip()
        elif column.kind == "decimal":
            hint = (hint + " " + _("金额以元为单位，最多两位小数。")).strip()
        notes.append([column.header(), _("是") if column.required else _("否"), hint])
    notes.append([])
    notes.append([_("按内部编号（仪器）或服务编号（服务项目）匹配：已有的更新，没有的新建。")])
    notes.append([_("必填列、是否列和选择列留空时：新建的取默认值，已有的保持原值。")])
    notes.append([_("任何一行有误时整个文件都不会导入。")])
    notes.column_dimensions["A"].width = 36
    notes.column_dimensions["C"].width = 80
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
