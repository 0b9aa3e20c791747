"""Settlement: closing a period groups each authority's approved claims into
one batch, with a statement line per payee and a cross-region matrix
(issuing region × provider region); then the authority records the payment.

Periods are "YYYY-MM" (monthly programmes) or "YYYY-Qn" (quarterly), in
Asia/Shanghai calendar time; a batch of period P takes every approved claim
of the authority's programmes of P's cycle approved before P ends and not
yet in a batch (so a straggler joins the next batch instead of being lost).

Set-based by design (DESIGN.md §6): per authority one UPDATE assigns the
claims, one INSERT … SELECT … GROUP BY writes the statement, another the
matrix, and the batch's totals come from one aggregate; nothing loops over
claims. The batch row is inserted with ON CONFLICT DO NOTHING on (authority,
period): a second run, or a concurrent one, finds it and changes nothing.
Everything happens in the caller's transaction, so a failure anywhere
leaves no partial batch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import (
    JSON,
    BigInteger,
    Integer,
    String,
    cast,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from booking.accounts.models import User
from booking.audit.models import AuditEvent
from booking.audit.services import record
from booking.core.validators import EARLIEST_YEAR, LATEST_YEAR
from booking.db import serialize_writes
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import UTCDateTime, db
from booking.i18n import money
from booking.notifications.handlers import organization_users
from booking.notifications.models import Notification
from booking.notifications.services import notify
from booking.orders.clock import at_local, local
from vouchers.models import (
    BatchStatus,
    Claim,
    ClaimStatus,
    Programme,
    RegionFlow,
    SettlementBatch,
    SettlementCycle,
    StatementLine,
)

OBJECT_TYPE = "voucher_batch"
_MONTH = re.compile(r"([0-9]{4})-([0-9]{2})")
_QUARTER = re.compile(r"([0-9]{4})-Q([1-4])")
BAD_PERIOD = _l("结算期格式应为 2026-10（月度）或 2026-Q4（季度）。")


# --- periods -----------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class Period:
    start: date
    end: date  # exclusive
    cycle: str
    label: str

    @property
    def starts_at(self) -> datetime:
        return at_local(self.start, time(0))

    @property
    def ends_at(self) -> datetime:
        """The first moment after the period (Asia/Shanghai midnight), aware UTC."""
        return at_local(self.end, time(0))

    def next(self) -> Period:
        return period_of(self.ends_at, self.cycle)


def _month(year: int, month: int) -> Period:
    end = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return Period(date(year, month, 1), end, SettlementCycle.MONTHLY, f"{year:04d}-{month:02d}")


def _quarter(year: int, quarter: int) -> Period:
    first = 3 * (quarter - 1) + 1
    end = date(year + 1, 1, 1) if quarter == 4 else date(year, first + 3, 1)
    return Period(date(year, first, 1), end, SettlementCycle.QUARTERLY, f"{year:04d}-Q{quarter}")


def parse_period(text: str) -> Period:
    """ "2026-10" or "2026-Q4"; anything else is a DomainError with the format."""
    value = (text or "").strip().upper()
    if match := _MONTH.fullmatch(value):
        year, month = int(match[1]), int(match[2])
        if 1 <= month <= 12 and EARLIEST_YEAR <= year <= LATEST_YEAR:
            return _month(year, month)
    elif match := _QUARTER.fullmatch(value):
        year = int(match[1])
        if EARLIEST_YEAR <= year <= LATEST_YEAR:
            return _quarter(year, int(match[2]))
    raise DomainError(BAD_PERIOD, field="period")


def period_of(moment: datetime, cycle: str) -> Period:
    """The period of `cycle` holding `moment` (Asia/Shanghai)."""
    day = local(moment).date()
    if cycle == SettlementCycle.QUARTERLY:
        return _quarter(day.year, (day.month - 1) // 3 + 1)
    return _month(day.year, day.month)


def last_closed(now: datetime, cycle: str) -> Period:
    """The latest period of `cycle` that has ended by `now`."""
    current = period_of(now, cycle)
    return period_of(current.starts_at - timedelta(seconds=1), cycle)


# --- closing a period ---------------------------------------------------------------------


@dataclass
class SettleResult:
    batches: int = 0
    claims: int = 0
    total_fen: int = 0
    batch_ids: list[int] = field(default_factory=list)


def _after_claims_assigned(batch_id: int) -> None:
    """A seam for the crash test: runs between the claim UPDATE and the
    statement INSERTs, where a failure must leave no partial batch."""


def _eligible(period: Period) -> list[Any]:
    return [
        Claim.status == ClaimStatus.APPROVED,
        Claim.batch_id.is_(None),
        Claim.approved_at < period.ends_at,
        Claim.programme_id.in_(
            select(Programme.id).where(Programme.settlement_cycle == period.cycle)
        ),
    ]


def _insert_batch(
    authority_id: int, period: Period, now: datetime, actor: User | None
) -> int | None:
    """The new batch's id, or None when (authority, period) already has one."""
    dialect = db.session.get_bind().dialect.name
    make = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        make(SettlementBatch)
        .values(
            authority_id=authority_id,
            period=period.label,
            period_start=period.start,
            period_end=period.end,
            status=BatchStatus.CLOSED,
            total_fen=0,
            claim_count=0,
            closed_by_id=actor.id if actor else None,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["authority_id", "period"])
        .returning(SettlementBatch.id)
    )
    return db.session.execute(stmt).scalar()


def settle(
    period: str | Period, now: datetime, authority_id: int | None = None, actor: User | None = None
) -> SettleResult:
    """Close `period` for every authority (or one) with approved claims due in it.

    Refused (DomainError) for a period that has not ended by `now`. An
    authority whose batch for the period exists is left as it is. Flushes
    nothing it does not write through SQL; the caller commits once.
    """
    target = parse_period(period) if isinstance(period, str) else period
    if now < target.ends_at:
        raise DomainError(
            _l("结算期 %(period)s 尚未结束，结束后才能结算。", period=target.label), field="period"
        )
    serialize_writes(db.session)
    eligible = _eligible(target)
    authorities = select(Claim.authority_id).where(*eligible).distinct()
    if authority_id is not None:
        authorities = authorities.where(Claim.authority_id == authority_id)
    result = SettleResult()
    for authority in sorted(db.session.scalars(authorities)):
        batch_id = _insert_batch(authority, target, now, actor)
        if batch_id is None:
            continue
        _fill_batch(batch_id, authority, eligible)
        batch = db.session.get(SettlementBatch, batch_id, populate_existing=True)
        assert batch is not None
        result.batches += 1
        result.claims += batch.claim_count
        result.total_fen += batch.total_fen
        result.batch_ids.append(batch_id)
        record(
            actor,
            "batch.close",
            OBJECT_TYPE,
            batch_id,
            to_state=BatchStatus.CLOSED,
            now=now,
            period=target.label,
            claim_count=batch.claim_count,
            total_fen=batch.total_fen,
        )
        notify(
            organization_users(authority),
            "voucher_batch.closed",
            now,
            link=f"/authority/settlement/batches/{batch_id}",
            period=target.label,
            count=batch.claim_count,
            amount=money(batch.total_fen),
        )
    db.session.flush()
    return result


def _fill_batch(batch_id: int, authority_id: int, eligible: list[Any]) -> None:
    """The four set-based statements that make a batch."""
    bid = literal(batch_id, Integer)
    db.session.execute(
        update(Claim)
        .where(Claim.authority_id == authority_id, *eligible)
        .values(batch_id=batch_id),
        execution_options={"synchronize_session": False},
    )
    _after_claims_assigned(batch_id)
    db.session.execute(
        insert(StatementLine).from_select(
            ["batch_id", "payee_id", "amount_fen", "claim_count"],
            select(
                bid,
                Claim.payee_id,
                cast(func.sum(Claim.amount_fen), BigInteger),
                func.count(),
            )
            .where(Claim.batch_id == batch_id)
            .group_by(Claim.payee_id),
        )
    )
    db.session.execute(
        insert(RegionFlow).from_select(
            ["batch_id", "issuing_region_id", "provider_region_id", "amount_fen", "claim_count"],
            select(
                bid,
                Claim.issuing_region_id,
                Claim.provider_region_id,
                cast(func.sum(Claim.amount_fen), BigInteger),
                func.count(),
            )
            .where(Claim.batch_id == batch_id)
            .group_by(Claim.issuing_region_id, Claim.provider_region_id),
        )
    )
    # The statement is far smaller than the claims: total it instead of them.
    lines = select(StatementLine).where(StatementLine.batch_id == batch_id).subquery()
    db.session.execute(
        update(SettlementBatch)
        .where(SettlementBatch.id == batch_id)
        .values(
            total_fen=select(
                cast(func.coalesce(func.sum(lines.c.amount_fen), 0), BigInteger)
            ).scalar_subquery(),
            claim_count=select(
                cast(func.coalesce(func.sum(lines.c.claim_count), 0), Integer)
            ).scalar_subquery(),
        ),
        execution_options={"synchronize_session": False},
    )


# --- payment ------------------------------------------------------------------------------


def authority_batch(authority_id: int, batch_id: int) -> SettlementBatch:
    batch = db.session.scalar(
        select(SettlementBatch).where(
            SettlementBatch.id == batch_id, SettlementBatch.authority_id == authority_id
        )
    )
    if batch is None:
        raise NotFound(_l("结算批次不存在。"))
    return batch


def authority_batches(authority_id: int) -> Any:
    return (
        select(SettlementBatch)
        .where(SettlementBatch.authority_id == authority_id)
        .order_by(SettlementBatch.period_start.desc(), SettlementBatch.id.desc())
    )


def record_payment(batch_id: int, actor: User, reference: str, now: datetime) -> SettlementBatch:
    """Record the payment reference: the batch and every claim in it are paid.

    One conditional UPDATE decides (a batch is paid once: a second recording
    is an InvalidTransition); one UPDATE pays the claims; their audit events
    and the payees' notifications are written with INSERT … SELECT.
    """
    text = (reference or "").strip()
    if not text:
        raise DomainError(_l("请填写付款凭证号。"), field="reference")
    if len(text) > 128:
        raise DomainError(_l("付款凭证号不能超过 128 个字符。"), field="reference")
    serialize_writes(db.session)
    batch = authority_batch(actor.organization_id, batch_id)
    changed = db.session.execute(
        update(SettlementBatch)
        .where(
            SettlementBatch.id == batch.id,
            SettlementBatch.status == BatchStatus.CLOSED,
        )
        .values(status=BatchStatus.PAID, payment_reference=text, paid_at=now, paid_by_id=actor.id),
        execution_options={"synchronize_session": False},
    )
    if int(getattr(changed, "rowcount", 0) or 0) != 1:
        raise InvalidTransition(_l("该批次已登记付款，不能重复登记。"))
    in_batch = (Claim.batch_id == batch.id, Claim.status == ClaimStatus.APPROVED)
    _audit_claims_paid(batch, actor, text, now, in_batch)
    db.session.execute(
        update(Claim).where(*in_batch).values(status=ClaimStatus.PAID, paid_at=now),
        execution_options={"synchronize_session": False},
    )
    db.session.refresh(batch)
    record(
        actor,
        "batch.pay",
        OBJECT_TYPE,
        batch.id,
        from_state=BatchStatus.CLOSED,
        to_state=BatchStatus.PAID,
        now=now,
        reference=text,
    )
    _notify_payees(batch, text, now)
    db.session.flush()
    return batch


def _audit_claims_paid(
    batch: SettlementBatch, actor: User, reference: str, now: datetime, in_batch: tuple[Any, ...]
) -> None:
    db.session.execute(
        insert(AuditEvent).from_select(
            [
                "at",
                "actor_user_id",
                "actor_org_id",
                "action",
                "object_type",
                "object_id",
                "from_state",
                "to_state",
                "detail",
            ],
            select(
                literal(now, UTCDateTime()),
                literal(actor.id, Integer),
                literal(actor.organization_id, Integer),
                literal("claim.pay", String),
                literal("voucher_claim", String),
                Claim.id,
                literal(ClaimStatus.APPROVED.value, String),
                literal(ClaimStatus.PAID.value, String),
                literal({"batch_id": batch.id, "reference": reference}, JSON()),
            ).where(*in_batch),
        )
    )


def _notify_payees(batch: SettlementBatch, reference: str, now: datetime) -> None:
    """One notification per active user of each payee in the batch."""
    params = {"period": batch.period, "reference": reference}
    db.session.execute(
        insert(Notification).from_select(
            ["user_id", "kind", "params", "link", "created_at"],
            select(
                User.id,
                literal("voucher_batch.paid", String),
                literal(params, JSON()),
                literal("/claims/statements", String),
                literal(now, UTCDateTime()),
            )
            .join(StatementLine, StatementLine.payee_id == User.organization_id)
            .where(StatementLine.batch_id == batch.id, User.active.is_(True)),
        )
    )


# --- reading a batch ---------------------------------------------------------------------


@dataclass(frozen=True)
class Matrix:
    """Issuing region × provider region: amount and count per cell."""

    issuing: list[tuple[int, str]]
    providing: list[tuple[int, str]]
    cells: dict[tuple[int, int], tuple[int, int]]

    def cell(self, issuing_id: int, provider_id: int) -> tuple[int, int] | None:
        return self.cells.get((issuing_id, provider_id))

    def row_total(self, issuing_id: int) -> tuple[int, int]:
        found = [v for (i, _p), v in self.cells.items() if i == issuing_id]
        return sum(a for a, _c in found), sum(c for _a, c in found)

    def column_total(self, provider_id: int) -> tuple[int, int]:
        found = [v for (_i, p), v in self.cells.items() if p == provider_id]
        return sum(a for a, _c in found), sum(c for _a, c in found)


def matrix(batch_id: int, locale: str = "zh") -> Matrix:
    from booking.accounts.models import Region

    flows = list(db.session.scalars(select(RegionFlow).where(RegionFlow.batch_id == batch_id)))
    ids = {f.issuing_region_id for f in flows} | {f.provider_region_id for f in flows}
    regions = (
        {
            r.id: (r.name_en if locale.startswith("en") and r.name_en else r.name_zh)
            for r in db.session.scalars(select(Region).where(Region.id.in_(ids)))
        }
        if ids
        else {}
    )
    issuing = sorted({(f.issuing_region_id, regions.get(f.issuing_region_id, "")) for f in flows})
    providing = sorted(
        {(f.provider_region_id, regions.get(f.provider_region_id, "")) for f in flows}
    )
    cells = {
        (f.issuing_region_id, f.provider_region_id): (f.amount_fen, f.claim_count) for f in flows
    }
    return Matrix(issuing, providing, cells)


def statement_lines(batch_id: int) -> list[StatementLine]:
    from sqlalchemy.orm import selectinload

    return list(
        db.session.scalars(
            select(StatementLine)
            .where(StatementLine.batch_id == batch_id)
            .options(selectinload(StatementLine.payee))
            .order_by(StatementLine.amount_fen.desc(), StatementLine.payee_id)
        )
    )


def payee_statements(payee_id: int) -> list[tuple[StatementLine, SettlementBatch]]:
    """The payee's statement lines in every batch, newest first."""
    rows = db.session.execute(
        select(StatementLine, SettlementBatch)
        .join(SettlementBatch, SettlementBatch.id == StatementLine.batch_id)
        .where(StatementLine.payee_id == payee_id)
        .order_by(SettlementBatch.period_start.desc(), SettlementBatch.id.desc())
    ).all()
    return [(line, batch) for line, batch in rows]


def payee_statement(payee_id: int, batch_id: int) -> tuple[StatementLine, SettlementBatch]:
    row = (
        db.session.execute(
            select(StatementLine, SettlementBatch)
            .join(SettlementBatch, SettlementBatch.id == StatementLine.batch_id)
            .where(StatementLine.payee_id == payee_id, StatementLine.batch_id == batch_id)
        )
    ).first()
    if row is None:
        raise NotFound(_l("结算单不存在。"))
    return (row[0], row[1])
