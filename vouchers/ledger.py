"""The money primitives: every movement between a grant's buckets, the
earmark (hold) of a share while the provider decides, the controller-group
counter and the programme budget.

Each primitive is one conditional UPDATE whose row count is checked — the
database decides under its own row lock whether the money is there, so two
transactions can never both spend the last yuan — followed, for real money
movements, by one appended `LedgerEntry`. CHECK constraints on the tables are
the backstop. Callers own the transaction; nothing here commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from booking.errors import DomainError
from booking.extensions import db
from vouchers.models import (
    Bucket,
    EntryKind,
    Grant,
    GrantStatus,
    GroupSpend,
    LedgerEntry,
    Programme,
)

if TYPE_CHECKING:
    from booking.accounts.models import User


class InsufficientFunds(DomainError):
    """The grant, group cap or budget does not hold the amount (any more)."""

    code = "insufficient_funds"


def _column(bucket: Bucket | str) -> Any:
    return getattr(Grant, f"{Bucket(bucket).value}_fen")


def _rows_changed(statement: Any) -> int:
    """Execute a Core UPDATE (bypassing the identity map) and return its row count."""
    result = db.session.execute(statement, execution_options={"synchronize_session": False})
    return int(getattr(result, "rowcount", 0) or 0)


def _expire_cached(model: type[Any], ident: int) -> None:
    """A Core UPDATE bypasses the identity map: make a loaded copy re-read."""
    loaded = db.session.identity_map.get((model, (ident,), None))
    if loaded is not None:
        db.session.expire(loaded)


def move(
    grant_id: int,
    kind: EntryKind,
    amount_fen: int,
    from_bucket: Bucket | None,
    to_bucket: Bucket,
    now: datetime,
    *,
    actor: User | None = None,
    voucher_use_id: int | None = None,
    note: str = "",
    idempotency_key: str | None = None,
    release_hold: bool = False,
) -> LedgerEntry:
    """Move `amount_fen` between two buckets of one grant and append the entry.

    Refused (InsufficientFunds, nothing written) when the source bucket holds
    less. Taking from `available` respects earmarks: only the unheld part can
    go, unless `release_hold` says this movement consumes its own hold (a
    held share being locked), in which case the hold shrinks with it.
    """
    if amount_fen <= 0:
        raise DomainError(_l("金额必须大于零。"))
    values: dict[str, Any] = {}
    conditions = [Grant.id == grant_id]
    if from_bucket is not None:
        source = _column(from_bucket)
        values[source.key] = source - amount_fen
        if from_bucket == Bucket.AVAILABLE and release_hold:
            conditions += [Grant.held_fen >= amount_fen, source >= amount_fen]
            values["held_fen"] = Grant.held_fen - amount_fen
        elif from_bucket == Bucket.AVAILABLE:
            conditions.append(source - Grant.held_fen >= amount_fen)
        else:
            conditions.append(source >= amount_fen)
    target = _column(to_bucket)
    values[target.key] = target + amount_fen
    changed = _rows_changed(update(Grant).where(*conditions).values(**values))
    if changed != 1:
        raise InsufficientFunds(_l("额度余额不足。"))
    _expire_cached(Grant, grant_id)
    entry = LedgerEntry(
        grant_id=grant_id,
        voucher_use_id=voucher_use_id,
        kind=kind,
        amount_fen=amount_fen,
        from_bucket=from_bucket,
        to_bucket=to_bucket,
        actor_id=actor.id if actor else None,
        note=note,
        idempotency_key=idempotency_key,
        created_at=now,
    )
    db.session.add(entry)
    return entry


def issue(
    grant_id: int, amount_fen: int, now: datetime, *, actor: User | None = None
) -> LedgerEntry:
    """Approve a grant's amount: set it and credit the available bucket in one
    UPDATE (the CHECK that buckets sum to the grant holds at every statement),
    then append the issue entry. Refused if the grant was already issued."""
    if amount_fen <= 0:
        raise DomainError(_l("金额必须大于零。"), field="approved_amount")
    changed = _rows_changed(
        update(Grant)
        .where(Grant.id == grant_id, Grant.approved_fen.is_(None))
        .values(approved_fen=amount_fen, available_fen=Grant.available_fen + amount_fen)
    )
    if changed != 1:
        raise DomainError(_l("该额度已经发放。"))
    _expire_cached(Grant, grant_id)
    entry = LedgerEntry(
        grant_id=grant_id,
        kind=EntryKind.ISSUE,
        amount_fen=amount_fen,
        from_bucket=None,
        to_bucket=Bucket.AVAILABLE,
        actor_id=actor.id if actor else None,
        created_at=now,
    )
    db.session.add(entry)
    return entry


def hold(grant_id: int, amount_fen: int) -> None:
    """Earmark a share on an approved grant while the provider decides. No
    money moves, so no ledger entry; refused when the unheld balance is short."""
    changed = _rows_changed(
        update(Grant)
        .where(
            Grant.id == grant_id,
            Grant.status == GrantStatus.APPROVED,
            Grant.available_fen - Grant.held_fen >= amount_fen,
        )
        .values(held_fen=Grant.held_fen + amount_fen)
    )
    if changed != 1:
        raise InsufficientFunds(_l("额度余额不足，无法使用创新券支付此订单。"))
    _expire_cached(Grant, grant_id)


def unhold(grant_id: int, amount_fen: int) -> None:
    _rows_changed(
        update(Grant)
        .where(Grant.id == grant_id, Grant.held_fen >= amount_fen)
        .values(held_fen=Grant.held_fen - amount_fen)
    )
    _expire_cached(Grant, grant_id)


def draw_budget(programme_id: int, amount_fen: int) -> None:
    """Count an approved grant against its programme's budget; refused when
    the budget does not hold it."""
    changed = _rows_changed(
        update(Programme)
        .where(
            Programme.id == programme_id,
            Programme.granted_fen + amount_fen <= Programme.budget_fen,
        )
        .values(granted_fen=Programme.granted_fen + amount_fen)
    )
    if changed != 1:
        raise InsufficientFunds(_l("项目预算不足。"), field="approved_amount")
    _expire_cached(Programme, programme_id)


def commit_group(programme_id: int, controller_key: str, cap_fen: int, amount_fen: int) -> None:
    """Count a share against the controller group's cap in this programme."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    _rows_changed(
        insert(GroupSpend)
        .values(programme_id=programme_id, controller_key=controller_key, cap_fen=cap_fen)
        .on_conflict_do_nothing(index_elements=["programme_id", "controller_key"])
    )
    changed = _rows_changed(
        update(GroupSpend)
        .where(
            GroupSpend.programme_id == programme_id,
            GroupSpend.controller_key == controller_key,
            GroupSpend.committed_fen + amount_fen <= GroupSpend.cap_fen,
        )
        .values(committed_fen=GroupSpend.committed_fen + amount_fen)
    )
    if changed != 1:
        raise InsufficientFunds(_l("同一实际控制人名下企业的创新券额度已达上限。"))


def uncommit_group(programme_id: int, controller_key: str, amount_fen: int) -> None:
    _rows_changed(
        update(GroupSpend)
        .where(
            GroupSpend.programme_id == programme_id,
            GroupSpend.controller_key == controller_key,
            GroupSpend.committed_fen >= amount_fen,
        )
        .values(committed_fen=GroupSpend.committed_fen - amount_fen)
    )


@dataclass(frozen=True)
class Mismatch:
    grant_id: int
    bucket: str
    cached_fen: int
    ledger_fen: int


def ledger_balances(grant_ids: list[int] | None = None) -> dict[int, dict[str, int]]:
    """Each grant's bucket balances summed from its ledger entries (set-based)."""
    balances: dict[int, dict[str, int]] = {}
    inflow = select(
        LedgerEntry.grant_id, LedgerEntry.to_bucket, func.sum(LedgerEntry.amount_fen)
    ).group_by(LedgerEntry.grant_id, LedgerEntry.to_bucket)
    outflow = (
        select(LedgerEntry.grant_id, LedgerEntry.from_bucket, func.sum(LedgerEntry.amount_fen))
        .where(LedgerEntry.from_bucket.is_not(None))
        .group_by(LedgerEntry.grant_id, LedgerEntry.from_bucket)
    )
    if grant_ids is not None:
        inflow = inflow.where(LedgerEntry.grant_id.in_(grant_ids))
        outflow = outflow.where(LedgerEntry.grant_id.in_(grant_ids))
    for grant_id, bucket, total in db.session.execute(inflow):
        row = balances.setdefault(grant_id, {b.value: 0 for b in Bucket})
        row[bucket] += int(total)
    for grant_id, source, total in db.session.execute(outflow):
        row = balances.setdefault(grant_id, {b.value: 0 for b in Bucket})
        row[str(source)] -= int(total)
    return balances


def mismatches() -> list[Mismatch]:
    """Grants whose cached balance differs from the sum of their entries."""
    sums = ledger_balances()
    found: list[Mismatch] = []
    columns = [Grant.id, *(_column(b) for b in Bucket)]
    for row in db.session.execute(select(*columns).where(Grant.approved_fen.is_not(None))):
        grant_id, *cached = row
        expected = sums.get(grant_id, {b.value: 0 for b in Bucket})
        for bucket, cached_fen in zip(Bucket, cached, strict=True):
            if cached_fen != expected[bucket.value]:
                found.append(Mismatch(grant_id, bucket.value, cached_fen, expected[bucket.value]))
    return found
