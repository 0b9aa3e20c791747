"""Internal use (内部使用): the provider's own use of its instruments.

Authorities report 有效工作机时 (all recorded use) and 共享率 = 对外服务机时 /
有效工作机时. Bookings only record outside use, so without these entries the
rate would always be 100 %. Provider staff record each session after the
fact, by hand or from a CSV/XLSX file; a wrong entry is voided with a
reason, never deleted. Every change is audited (object type
"internal_use").

Rules for an entry, each refused with its own message and nothing written:
the instrument is the actor's provider's (another's is NotFound); the
interval is half-open, ends after it starts, is at most 24 h, does not end
after now, lies in the plausible years; it overlaps neither another
non-voided entry of the instrument nor a booking's recorded use (上机 to
下机, or still running when 下机 is not yet recorded).

An entry blocks no booking slot (DESIGN.md: recorded after the fact), so
there is no database exclusion constraint; concurrent writers of one
instrument's entries are serialised by locking the instrument's row
(PostgreSQL) or BEGIN IMMEDIATE (SQLite). Services flush; the request
commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from openpyxl.utils import get_column_letter
from sqlalchemy import Select, or_, select
from sqlalchemy.exc import DataError, IntegrityError
from werkzeug.datastructures import MultiDict

from booking.accounts.models import OrgKind, User
from booking.audit.services import record
from booking.core.spreadsheets import local_text
from booking.core.validators import EARLIEST_YEAR, LATEST_YEAR, has_control_characters
from booking.db import serialize_writes
from booking.errors import DomainError, InvalidTransition, NotFound, PermissionDenied
from booking.extensions import db
from booking.orders.clock import local
from booking.orders.models import Booking, InternalUse
from booking.orders.provider_forms import INTERNAL_USE_ERROR_FIELDS, InternalUseForm
from booking.orders.utilisation import seconds_between
from instruments.importer import (
    CellError,
    Column,
    ImportFileError,
    ImportResult,
    cell_text,
    form_columns,
    map_header,
    read_table,
)
from instruments.models import Instrument

OBJECT_TYPE = "internal_use"
MAX_DURATION = timedelta(hours=24)
# The columns a file must have; purpose may be left out.
REQUIRED_COLUMNS = ("date", "start", "end")


def _require_provider_staff(actor: User) -> None:
    if actor.organization.kind != OrgKind.PROVIDER:
        raise PermissionDenied(_l("只有服务机构可以登记内部使用。"))


def own_instrument(actor: User, instrument_id: int, *, lock: bool = False) -> Instrument:
    """One of the actor's provider's instruments; another's is NotFound.
    `lock` takes the row lock that serialises writers of its entries."""
    stmt = select(Instrument).where(
        Instrument.id == instrument_id, Instrument.provider_id == actor.organization_id
    )
    instrument = db.session.scalar(stmt.with_for_update() if lock else stmt)
    if instrument is None:
        raise NotFound(_l("仪器不存在。"))
    return instrument


def _span(starts_at: datetime, ends_at: datetime) -> str:
    start, end = local(starts_at), local(ends_at)
    tail = end.strftime("%H:%M") if start.date() == end.date() else end.strftime("%Y-%m-%d %H:%M")
    return f"{start.strftime('%Y-%m-%d %H:%M')}–{tail}"


def check_interval(
    instrument_id: int,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
    *,
    ignore: Sequence[int] = (),
) -> None:
    """Raise a DomainError (field "starts_at" or "ends_at") for the first rule
    the interval breaks; read-only."""
    if not (
        EARLIEST_YEAR <= local(starts_at).year <= LATEST_YEAR
        and EARLIEST_YEAR <= local(ends_at).year <= LATEST_YEAR
    ):
        raise DomainError(
            _l("日期须在 %(lo)d 年至 %(hi)d 年之间。", lo=EARLIEST_YEAR, hi=LATEST_YEAR),
            field="starts_at",
        )
    if ends_at <= starts_at:
        raise DomainError(_l("结束时间须晚于开始时间。"), field="ends_at")
    if ends_at - starts_at > MAX_DURATION:
        raise DomainError(_l("一条记录不能超过 24 小时，请分多条登记。"), field="ends_at")
    if ends_at > now:
        raise DomainError(
            _l("内部使用在结束后登记：结束时间不能晚于现在（%(now)s）。", now=local_text(now)),
            field="ends_at",
        )
    clash = db.session.scalar(
        select(InternalUse)
        .where(
            InternalUse.instrument_id == instrument_id,
            InternalUse.voided_at.is_(None),
            InternalUse.starts_at < ends_at,
            InternalUse.ends_at > starts_at,
            InternalUse.id.notin_(ignore),
        )
        .order_by(InternalUse.starts_at)
        .limit(1)
    )
    if clash is not None:
        raise DomainError(
            _l(
                "与已登记的内部使用 %(span)s 重叠。",
                span=_span(clash.starts_at, clash.ends_at),
            ),
            field="starts_at",
        )
    # A booking's recorded use: 上机 to 下机; without 下机 the session is still
    # running, and every entry ends by now, so it overlaps from 上机 on.
    booking = db.session.scalar(
        select(Booking)
        .where(
            Booking.instrument_id == instrument_id,
            Booking.checked_in_at.is_not(None),
            Booking.checked_in_at < ends_at,
            or_(Booking.checked_out_at.is_(None), Booking.checked_out_at > starts_at),
        )
        .order_by(Booking.checked_in_at)
        .limit(1)
    )
    if booking is not None:
        assert booking.checked_in_at is not None
        if booking.checked_out_at is None:
            message = _l(
                "与预约 #%(id)s 的上机使用重叠（%(start)s 上机，尚未下机）。",
                id=booking.id,
                start=local_text(booking.checked_in_at),
            )
        else:
            message = _l(
                "与预约 #%(id)s 的上机使用 %(span)s 重叠。",
                id=booking.id,
                span=_span(booking.checked_in_at, booking.checked_out_at),
            )
        raise DomainError(message, field="starts_at")


def _add(
    actor: User,
    instrument: Instrument,
    starts_at: datetime,
    ends_at: datetime,
    purpose: str,
    now: datetime,
    **audit: Any,
) -> InternalUse:
    check_interval(instrument.id, starts_at, ends_at, now)
    entry = InternalUse(
        instrument_id=instrument.id,
        starts_at=starts_at,
        ends_at=ends_at,
        purpose=purpose,
        recorded_by_id=actor.id,
        recorded_at=now,
    )
    db.session.add(entry)
    db.session.flush()
    record(
        actor,
        "internal_use.record",
        OBJECT_TYPE,
        entry.id,
        to_state="recorded",
        now=now,
        instrument_id=instrument.id,
        starts_at=starts_at.isoformat(),
        ends_at=ends_at.isoformat(),
        purpose=purpose,
        **audit,
    )
    return entry


def _clean_purpose(purpose: str) -> str:
    purpose = " ".join(purpose.split())
    # PostgreSQL refuses NUL outright; no control character belongs in a label.
    if has_control_characters(purpose):
        raise DomainError(_l("用途包含无效字符。"), field="purpose")
    if len(purpose) > 255:
        raise DomainError(_l("用途不能超过 255 个字符。"), field="purpose")
    return purpose


def record_internal_use(
    actor: User,
    instrument_id: int,
    starts_at: datetime,
    ends_at: datetime,
    purpose: str,
    now: datetime,
) -> InternalUse:
    """Record one session [starts_at, ends_at) of the provider's own use of
    its instrument. Refused (nothing written) when a rule in the module's
    docstring is broken. Audited."""
    _require_provider_staff(actor)
    purpose = _clean_purpose(purpose)
    serialize_writes(db.session)
    instrument = own_instrument(actor, instrument_id, lock=True)
    return _add(actor, instrument, starts_at, ends_at, purpose, now)


def provider_entry(provider_id: int, entry_id: int) -> InternalUse:
    """One entry on the provider's instruments; another's is NotFound."""
    entry = db.session.scalar(
        select(InternalUse)
        .join(Instrument, Instrument.id == InternalUse.instrument_id)
        .where(InternalUse.id == entry_id, Instrument.provider_id == provider_id)
    )
    if entry is None:
        raise NotFound(_l("内部使用记录不存在。"))
    return entry


def void_internal_use(actor: User, entry_id: int, reason: str, now: datetime) -> InternalUse:
    """Void a wrong entry (it stops counting; the row and its history stay).
    The reason is required and kept in the audit trail."""
    _require_provider_staff(actor)
    reason = " ".join(reason.split())
    if has_control_characters(reason):
        raise DomainError(_l("作废原因包含无效字符。"), field="reason")
    if not reason:
        raise DomainError(_l("请填写作废原因。"), field="reason")
    if len(reason) > 255:
        raise DomainError(_l("作废原因不能超过 255 个字符。"), field="reason")
    serialize_writes(db.session)
    entry = provider_entry(actor.organization_id, entry_id)
    db.session.refresh(entry, with_for_update=True)
    if entry.voided_at is not None:
        raise InvalidTransition(_l("该记录已经作废。"))
    entry.voided_at = now
    record(
        actor,
        "internal_use.void",
        OBJECT_TYPE,
        entry.id,
        from_state="recorded",
        to_state="voided",
        now=now,
        instrument_id=entry.instrument_id,
        reason=reason,
    )
    db.session.flush()
    return entry


# --- listing -------------------------------------------------------------------------------


ENTRY_SORTS: dict[str, Any] = {
    "starts": InternalUse.starts_at,
    "recorded": InternalUse.recorded_at,
    # Seconds, not `ends_at - starts_at`: SQLite would subtract the stored text.
    "minutes": seconds_between(InternalUse.starts_at, InternalUse.ends_at),
    "id": InternalUse.id,
}


def instrument_entries(instrument_id: int, sort: str) -> Select[Any]:
    """An instrument's entries, voided ones included; `sort` is a key of
    ENTRY_SORTS, '-' first for descending. The caller has scoped the
    instrument to the provider."""
    column = ENTRY_SORTS[sort.lstrip("-")]
    ordered = column.desc() if sort.startswith("-") else column.asc()
    return (
        select(InternalUse)
        .where(InternalUse.instrument_id == instrument_id)
        .order_by(ordered, InternalUse.id)
    )


def void_reasons(entry_ids: Sequence[int]) -> dict[int, str]:
    """The audited reason of each voided entry among `entry_ids` (one query)."""
    from booking.audit.models import AuditEvent

    if not entry_ids:
        return {}
    events = db.session.execute(
        select(AuditEvent.object_id, AuditEvent.detail).where(
            AuditEvent.object_type == OBJECT_TYPE,
            AuditEvent.action == "internal_use.void",
            AuditEvent.object_id.in_(list(entry_ids)),
        )
    ).all()
    return {int(i): str((d or {}).get("reason", "")) for i, d in events}


# --- import ----------------------------------------------------------------------------------


def import_columns() -> list[Column]:
    """The file's columns: the form's fields (date, start, end, purpose)."""
    return form_columns(InternalUseForm(formdata=None, meta={"csrf": False}))


def import_internal_use(
    actor: User,
    instrument_id: int,
    filename: str,
    content: bytes,
    *,
    max_bytes: int,
    max_rows: int,
    now: datetime,
) -> ImportResult:
    """Record every row of a CSV/XLSX file (columns date, start, end,
    purpose) as internal use of one instrument — all rows or, when any row
    breaks a rule, none. Each row is checked by the web form and then by the
    same rules as one entry, also against the file's earlier rows. File-level
    problems raise ImportFileError; row problems are the result's errors,
    by row and column. Audited per entry."""
    _require_provider_staff(actor)
    table = read_table(filename, content, max_bytes=max_bytes, max_rows=max_rows)
    result = ImportResult(kind=OBJECT_TYPE, rows=len(table.rows))
    cols = import_columns()
    positions = map_header(table, cols, result, required=REQUIRED_COLUMNS)
    if not result.ok:
        return result
    if not table.rows:
        raise ImportFileError(_l("文件中只有表头，没有数据行。"))
    serialize_writes(db.session)
    instrument = own_instrument(actor, instrument_id, lock=True)
    run = _ImportRun(
        actor=actor,
        instrument=instrument,
        now=now,
        positions=positions,
        labels={c.key: str(c.label) for c in cols},
        headers={key: table.header[i] for i, key in positions.items()},
        result=result,
        form=InternalUseForm(formdata=None, meta={"csrf": False}),
    )
    savepoint = db.session.begin_nested()
    try:
        for number, cells in table.rows:
            run.row(number, cells)
    except (IntegrityError, DataError):
        savepoint.rollback()
        result.created = 0
        result.add_error(
            CellError(
                run.current_row, "—", _("数据库拒绝了这一行，请检查各项取值；之后的行没有校验。")
            )
        )
        return result
    except BaseException:
        savepoint.rollback()
        raise
    if result.ok:
        savepoint.commit()
    else:
        savepoint.rollback()
        result.created = 0
    return result


@dataclass
class _ImportRun:
    actor: User
    instrument: Instrument
    now: datetime
    positions: dict[int, str]  # file column index -> column key
    labels: dict[str, str]
    headers: dict[str, str]  # column key -> header as written in the file
    result: ImportResult
    form: InternalUseForm
    current_row: int = 0

    def __post_init__(self) -> None:
        self.seen: list[tuple[int, datetime, datetime]] = []

    def error(self, number: int, key: str | None, message: str) -> None:
        column = self.headers.get(key or "") or self.labels.get(key or "", "—")
        index = next((i for i, k in self.positions.items() if k == key), None)
        letter = get_column_letter(index + 1) if index is not None else ""
        self.result.add_error(CellError(number, column, message, letter))

    def row(self, number: int, cells: list[Any]) -> None:
        formdata: MultiDict[str, str] = MultiDict()
        for index, raw in enumerate(cells):
            key = self.positions.get(index)
            text = cell_text(raw)
            if key is None:
                if text:
                    letter = get_column_letter(index + 1)
                    self.result.add_error(CellError(number, letter, _("此列没有表头。"), letter))
                    return
                continue
            if text:
                formdata.add(key, text)
        form = self.form
        form.process(formdata=formdata)
        if not form.validate():
            for key, messages in form.errors.items():
                for message in messages:
                    self.error(number, key, str(message))
            return
        starts_at, ends_at = form.interval()
        earlier = next(
            (row for row, s, e in self.seen if s < ends_at and e > starts_at),
            None,
        )
        if earlier is not None:
            self.error(number, "start", _("与第 %(row)d 行的时段重叠。", row=earlier))
            return
        self.current_row = number
        try:
            _add(
                self.actor,
                self.instrument,
                starts_at,
                ends_at,
                _clean_purpose(form.purpose.data or ""),
                self.now,
                via="import",
            )
        except DomainError as exc:
            field = exc.field or ""
            self.error(number, INTERNAL_USE_ERROR_FIELDS.get(field, field), str(exc))
        else:
            self.seen.append((number, starts_at, ends_at))
            self.result.created += 1
