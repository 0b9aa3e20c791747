"""Utilisation figures as the authorities report them, per instrument and
per month (Asia/Shanghai months):

- 有效工作机时 (effective hours): recorded use — bookings' 下机 − 上机 plus
  the provider's own internal use (booking.orders.internal_use), not voided;
- 对外服务机时 (external hours): the part of the bookings used by
  organisations other than the instrument's own provider (internal use
  never counts here);
- 共享率 = external / effective;
- bookings, distinct outside firms served and income (sum of the charges).

Only bookings that were used and billed count: status completed or closed
with both 上机 and 下机 recorded. A booking's use belongs to the month in
which it started (上机): a session never spans months in practice (opening
hours keep a booking inside one day), and splitting one would bill one
session into two reports. An internal-use entry (at most 24 h) likewise
belongs to the month in which it started.

Everything is computed in SQL (GROUP BY over the union of used bookings and
internal use), never by looping over rows in Python, so it stays fast for a
whole region.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Numeric,
    and_,
    case,
    cast,
    delete,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from booking.core.validators import EARLIEST_YEAR, LATEST_YEAR
from booking.extensions import db
from booking.orders.clock import at_local, local
from booking.orders.models import Booking, InternalUse, OrderStatus, UtilisationSnapshot
from instruments.models import Instrument

# Bookings whose recorded use counts.
USED_STATUSES = (OrderStatus.COMPLETED, OrderStatus.CLOSED)
# A provider picks at most this many months on the utilisation page.
MAX_MONTHS = 36


# --- Asia/Shanghai months ---------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, n: int) -> date:
    index = month.year * 12 + (month.month - 1) + n
    return date(index // 12, index % 12 + 1, 1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """[first day 00:00, next month's first day 00:00) in Shanghai, as aware UTC."""
    first = month_start(month)
    return at_local(first, time(0)), at_local(add_months(first, 1), time(0))


def months_between(first: date, last: date) -> list[date]:
    """Every month from `first` to `last`, both included (first days)."""
    first, last = month_start(first), month_start(last)
    out: list[date] = []
    while first <= last:
        out.append(first)
        first = add_months(first, 1)
    return out


def last_months(now: datetime, n: int = 6) -> list[date]:
    """The current Shanghai month and the n − 1 before it, oldest first."""
    current = month_start(local(now).date())
    return [add_months(current, -k) for k in range(n - 1, -1, -1)]


# --- SQL -----------------------------------------------------------------------------


class seconds_between(FunctionElement[Any]):
    """Seconds from the first timestamp to the second, on either database."""

    type = Numeric()
    inherit_cache = True


@compiles(seconds_between, "postgresql")
def _seconds_between_pg(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: SQLCompiler, **kw: Any) -> str:
    start, end = list(element.clauses)
    return (
        f"((julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)})) * 86400.0)"
    )


def _minutes(seconds: ColumnElement[Any]) -> ColumnElement[int]:
    return cast(func.round(func.coalesce(seconds, 0) / 60.0), Integer)


def _bucket(started: Any, bounds: Sequence[tuple[datetime, datetime]]) -> Any:
    """The index of the month `started` falls in (NULL outside them all)."""
    return case(
        *[
            (and_(started >= lo, started < hi), literal_column(str(index)))
            for index, (lo, hi) in enumerate(bounds)
        ],
        else_=None,
    )


def _in_months(started: Any, bounds: Sequence[tuple[datetime, datetime]]) -> Any:
    return or_(*[and_(started >= lo, started < hi) for lo, hi in bounds])


def _aggregate(months: Sequence[date], provider_id: int | None) -> Any:
    """A subquery with one row per (instrument_id, month index) that has use:
    effective and external minutes, bookings, firms served, income."""
    bounds = [month_bounds(m) for m in months]
    started = Booking.checked_in_at
    external = Booking.enterprise_id != Instrument.provider_id
    seconds = seconds_between(Booking.checked_in_at, Booking.checked_out_at)
    bookings = (
        select(
            Booking.instrument_id.label("instrument_id"),
            _bucket(started, bounds).label("bucket"),
            seconds.label("seconds"),
            case((external, seconds), else_=literal(0)).label("external_seconds"),
            case((external, Booking.enterprise_id), else_=None).label("external_firm"),
            func.coalesce(Booking.charge_fen, 0).label("charge_fen"),
            Booking.id.label("booking_id"),
        )
        .join(Instrument, Instrument.id == Booking.instrument_id)
        .where(
            Booking.status.in_(USED_STATUSES),
            Booking.checked_in_at.is_not(None),
            Booking.checked_out_at.is_not(None),
            _in_months(started, bounds),
        )
    )
    # The provider's own use: effective time only — no outside firm, no
    # income, not a booking.
    internal = (
        select(
            InternalUse.instrument_id,
            _bucket(InternalUse.starts_at, bounds),
            seconds_between(InternalUse.starts_at, InternalUse.ends_at),
            literal(0),
            cast(null(), Integer),
            literal(0),
            cast(null(), Integer),
        )
        .join(Instrument, Instrument.id == InternalUse.instrument_id)
        .where(InternalUse.voided_at.is_(None), _in_months(InternalUse.starts_at, bounds))
    )
    if provider_id is not None:
        bookings = bookings.where(Instrument.provider_id == provider_id)
        internal = internal.where(Instrument.provider_id == provider_id)
    used = union_all(bookings, internal)
    rows = used.subquery("used")
    # Grouping on the subquery's column: PostgreSQL cannot match a CASE with
    # bound parameters in SELECT to the same CASE in GROUP BY.
    return (
        select(
            rows.c.instrument_id,
            rows.c.bucket,
            _minutes(func.sum(rows.c.seconds)).label("effective_minutes"),
            _minutes(func.sum(rows.c.external_seconds)).label("external_minutes"),
            func.count(rows.c.booking_id).label("bookings"),
            func.count(func.distinct(rows.c.external_firm)).label("users_served"),
            func.sum(rows.c.charge_fen).label("income_fen"),
        )
        .group_by(rows.c.instrument_id, rows.c.bucket)
        .subquery("agg")
    )


# --- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UtilisationRow:
    """One instrument's figures for one month (or a range, in totals)."""

    instrument_id: int
    month: date | None
    effective_minutes: int = 0
    external_minutes: int = 0
    bookings: int = 0
    users_served: int = 0
    income_fen: int = 0

    @property
    def effective_hours(self) -> Decimal:
        return hours(self.effective_minutes)

    @property
    def external_hours(self) -> Decimal:
        return hours(self.external_minutes)

    @property
    def sharing_rate(self) -> float | None:
        """External / effective, or None when there was no use."""
        if not self.effective_minutes:
            return None
        return self.external_minutes / self.effective_minutes

    @property
    def sharing_percent(self) -> Decimal | None:
        """共享率 in per cent with one decimal, as reports print it."""
        if not self.effective_minutes:
            return None
        value = Decimal(self.external_minutes * 100) / Decimal(self.effective_minutes)
        return value.quantize(Decimal("0.1"), ROUND_HALF_UP)

    @property
    def income_yuan(self) -> Decimal:
        return Decimal(self.income_fen) / 100


def hours(minutes: int) -> Decimal:
    """Minutes as hours with two decimals (half up): the page, the chart and
    the exports all print this same number."""
    return (Decimal(minutes) / 60).quantize(Decimal("0.01"), ROUND_HALF_UP)


def monthly_utilisation(provider_id: int, months: list[date]) -> list[UtilisationRow]:
    """The provider's instruments' figures for each given month (first days,
    Asia/Shanghai), one row per instrument and month that had use, ordered by
    instrument and month."""
    months = sorted({month_start(m) for m in months})
    if not months:
        return []
    agg = _aggregate(months, provider_id)
    result = db.session.execute(select(agg).order_by(agg.c.instrument_id, agg.c.bucket))
    return [
        UtilisationRow(
            instrument_id=row.instrument_id,
            month=months[int(row.bucket)],
            effective_minutes=int(row.effective_minutes or 0),
            external_minutes=int(row.external_minutes or 0),
            bookings=int(row.bookings or 0),
            users_served=int(row.users_served or 0),
            income_fen=int(row.income_fen or 0),
        )
        for row in result
    ]


@dataclass(frozen=True)
class InstrumentLine:
    instrument: Instrument
    figures: UtilisationRow


@dataclass
class UtilisationReport:
    """What the utilisation page and its exports show: per-month totals (the
    chart), per-instrument totals over the range (the table) and the grand
    total. Firms served are counted per month and per instrument; the totals
    add those counts up (a firm served in two months counts twice)."""

    months: list[date]
    by_month: list[UtilisationRow] = field(default_factory=list)
    by_instrument: list[InstrumentLine] = field(default_factory=list)
    total: UtilisationRow = field(default_factory=lambda: UtilisationRow(0, None))


def _sum(rows: Sequence[UtilisationRow], instrument_id: int, month: date | None) -> UtilisationRow:
    return UtilisationRow(
        instrument_id=instrument_id,
        month=month,
        effective_minutes=sum(r.effective_minutes for r in rows),
        external_minutes=sum(r.external_minutes for r in rows),
        bookings=sum(r.bookings for r in rows),
        users_served=sum(r.users_served for r in rows),
        income_fen=sum(r.income_fen for r in rows),
    )


def utilisation_report(provider_id: int, months: list[date]) -> UtilisationReport:
    """Every instrument of the provider (those without use show zeros),
    sorted by internal number, with month and grand totals. The Python here
    only adds up the few aggregated rows SQL returned."""
    months = sorted({month_start(m) for m in months})
    rows = monthly_utilisation(provider_id, months)
    instruments = db.session.scalars(
        select(Instrument)
        .where(Instrument.provider_id == provider_id)
        .order_by(Instrument.internal_no, Instrument.id)
    ).all()
    report = UtilisationReport(months=months)
    report.by_month = [_sum([r for r in rows if r.month == m], 0, m) for m in months]
    report.by_instrument = [
        InstrumentLine(i, _sum([r for r in rows if r.instrument_id == i.id], i.id, None))
        for i in instruments
    ]
    report.total = _sum(rows, 0, None)
    return report


# --- snapshots ---------------------------------------------------------------------------


def snapshot_month(month_start_day: date, now: datetime) -> int:
    """Write the month's UtilisationSnapshot rows for the instruments that had
    recorded use, and remove the month's rows of instruments that had none,
    so a re-run — even a concurrent one — leaves exactly the current figures.
    A missing row means zero: at 100,000 instruments most months are empty
    for most of them. Returns the number of rows written. Flushes nothing
    else and commits nothing: the job commits."""
    month = month_start(month_start_day)
    agg = _aggregate([month], None)
    snapshot = UtilisationSnapshot.__table__
    db.session.execute(
        delete(UtilisationSnapshot).where(
            UtilisationSnapshot.month == month,
            UtilisationSnapshot.instrument_id.notin_(select(agg.c.instrument_id)),
        )
    )
    source = select(
        agg.c.instrument_id,
        literal(month, type_=snapshot.c.month.type),
        agg.c.effective_minutes,
        agg.c.external_minutes,
        agg.c.bookings,
        agg.c.users_served,
        agg.c.income_fen,
        literal(now, type_=snapshot.c.computed_at.type),
    ).where(true())  # SQLite needs a WHERE in INSERT … SELECT … ON CONFLICT (parsing ambiguity)
    columns = [
        "instrument_id",
        "month",
        "effective_minutes",
        "external_minutes",
        "bookings",
        "users_served",
        "income_fen",
        "computed_at",
    ]
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(UtilisationSnapshot).from_select(columns, source)
    stmt = stmt.on_conflict_do_update(
        index_elements=["instrument_id", "month"],
        set_={name: stmt.excluded[name] for name in columns[2:]},
    )
    result = db.session.execute(stmt, execution_options={"preserve_rowcount": True})
    return int(getattr(result, "rowcount", 0) or 0)


def previous_month(now: datetime) -> date:
    """The last complete Shanghai month before `now` (what a nightly job snapshots)."""
    return add_months(month_start(local(now).date()), -1)


def month_label(month: date) -> str:
    return month.strftime("%Y-%m")


def parse_month(raw: str | None) -> date | None:
    """'2026-03' -> date(2026, 3, 1); anything else -> None."""
    if not raw:
        return None
    raw = raw.strip()
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", raw):
        return None
    year, month = int(raw[:4]), int(raw[5:])
    if not (EARLIEST_YEAR <= year <= LATEST_YEAR and 1 <= month <= 12):
        return None
    return date(year, month, 1)
