"""The voucher sweeps: settle closed periods, expire grants at programme end,
expire unclaimed uses past their deadline, verify the ledger, remind payees.

Each is a plain function of `now` (dates are Asia/Shanghai) that changes
what is due with set-based SQL, returns what it changed and changes nothing
when run again: a due row stops matching once changed, and the ledger's
unique (voucher use, kind) index refuses a second movement of one use.
Jobs flush; the scheduler or the CLI commits once (booking.scheduler).

Money moves as the ledger says (vouchers.ledger): an entry per movement and
the grant's cached buckets changed by the same amount. Here both are done
for many uses at once: first INSERT … SELECT the entries, then UPDATE each
grant's buckets by the sum of the entries whose use still shows the old
status (only this transaction leaves a use in that state: its entry is
written, its status not yet flipped), then flip the uses' status. The
grants are locked first (FOR UPDATE on PostgreSQL; SQLite has one writer),
so a concurrent spend waits instead of slipping between the statements.
"""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)

from booking.accounts.models import Organization, OrgKind, User
from booking.audit.services import record
from booking.extensions import UTCDateTime, db
from booking.notifications.handlers import organization_users
from booking.notifications.models import Notification
from booking.notifications.services import notify
from booking.orders.clock import at_local, local
from booking.orders.models import Booking, OrderStatus, ServiceOrder
from vouchers import ledger, settlement
from vouchers.claims import payee_sql
from vouchers.models import (
    Bucket,
    Claim,
    ClaimStatus,
    EntryKind,
    Grant,
    GrantStatus,
    LedgerEntry,
    Programme,
    SettlementCycle,
    UseStatus,
    VoucherUse,
)

log = logging.getLogger(__name__)

# Payees are reminded once when a claimable use's deadline is this close.
REMIND_DAYS = 7
# Orders that got as far as use: their locked share waits for the firm's confirmation.
DELIVERED = (OrderStatus.IN_USE, OrderStatus.COMPLETED, OrderStatus.CLOSED)


def _count(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _exec(statement: Any) -> Any:
    return db.session.execute(statement, execution_options={"synchronize_session": False})


# --- settle -----------------------------------------------------------------------------


def settle(now: datetime, period: str | None = None) -> dict[str, int]:
    """Close every ended settlement period not yet settled (or just `period`).

    Catch-up: for each authority and cycle with approved claims outside a
    batch, every period from the one holding the earliest such approval up
    to the last one ended by `now` is closed (vouchers.settlement.settle).
    """
    if period is not None:
        result = settlement.settle(period, now)
        return {"batches": result.batches, "claims": result.claims}
    pending = db.session.execute(
        select(Claim.authority_id, Programme.settlement_cycle, func.min(Claim.approved_at))
        .join(Programme, Programme.id == Claim.programme_id)
        .where(Claim.status == ClaimStatus.APPROVED, Claim.batch_id.is_(None))
        .group_by(Claim.authority_id, Programme.settlement_cycle)
        .order_by(Claim.authority_id, Programme.settlement_cycle)
    ).all()
    batches = claims = 0
    for authority_id, cycle, earliest in list(pending):
        if earliest is None or cycle not in set(SettlementCycle):
            continue
        last = settlement.last_closed(now, cycle)
        current = settlement.period_of(earliest, cycle)
        while current.start <= last.start:
            done = settlement.settle(current, now, authority_id=authority_id)
            batches, claims = batches + done.batches, claims + done.claims
            current = current.next()
    return {"batches": batches, "claims": claims}


# --- moving many uses' money at once ------------------------------------------------------


def _expire_uses(
    due: list[ColumnElement[bool]], source: Bucket, amount: Any, now: datetime, note: str
) -> int:
    """EXPIRE source -> expired for every use matching `due` (status `source`)."""
    source_column = getattr(Grant, f"{source.value}_fen")
    has_entry = exists().where(
        LedgerEntry.voucher_use_id == VoucherUse.id, LedgerEntry.kind == EntryKind.EXPIRE
    )
    _exec(
        insert(LedgerEntry).from_select(
            [
                "grant_id",
                "voucher_use_id",
                "kind",
                "amount_fen",
                "from_bucket",
                "to_bucket",
                "note",
                "created_at",
            ],
            select(
                VoucherUse.grant_id,
                VoucherUse.id,
                literal(EntryKind.EXPIRE.value, String),
                amount,
                literal(source.value, String),
                literal(Bucket.EXPIRED.value, String),
                literal(note, String),
                literal(now, UTCDateTime()),
            ).where(*due, ~has_entry, amount > 0),
        )
    )
    # Entries written above whose use still shows `source`: only this run's.
    fresh = and_(
        LedgerEntry.kind == EntryKind.EXPIRE,
        LedgerEntry.from_bucket == source,
        VoucherUse.status == source,
    )
    moved = (
        select(func.coalesce(func.sum(LedgerEntry.amount_fen), 0))
        .select_from(LedgerEntry)
        .join(VoucherUse, VoucherUse.id == LedgerEntry.voucher_use_id)
        .where(fresh, LedgerEntry.grant_id == Grant.id)
        .scalar_subquery()
    )
    touched = (
        select(LedgerEntry.grant_id)
        .join(VoucherUse, VoucherUse.id == LedgerEntry.voucher_use_id)
        .where(fresh)
    )
    _exec(
        update(Grant)
        .where(Grant.id.in_(touched))
        .values(
            {
                source_column.key: source_column - moved,
                Grant.expired_fen.key: Grant.expired_fen + moved,
            }
        )
    )
    # Zero amounts move no money (an entry must be positive) but still expire.
    flipped = _exec(
        update(VoucherUse)
        .where(*due, or_(has_entry, amount <= 0))
        .values(status=UseStatus.EXPIRED, ended_at=now)
    )
    return _count(flipped)


def _entry_amount(kind: EntryKind) -> Any:
    """The amount the use's `kind` entry moved (the ledger is the truth)."""
    return (
        select(LedgerEntry.amount_fen)
        .where(LedgerEntry.voucher_use_id == VoucherUse.id, LedgerEntry.kind == kind)
        .limit(1)
        .scalar_subquery()
    )


# --- expire grants at programme end --------------------------------------------------------


def expire_grants(now: datetime) -> dict[str, int]:
    """Close the grants of programmes past their valid_until and expire what they hold.

    held uses -> released (the earmark lifted); locked uses whose order never
    got to use -> EXPIRE locked -> expired; the available balance -> EXPIRE
    available -> expired; grants approved/suspended -> closed. Uses whose
    order is in use or delivered stay locked: the firm's confirmation still
    turns them into used shares. Entries are written with INSERT … SELECT;
    only the audit events and notifications loop, once per closed grant.
    The controller-group counters are left alone: nothing can spend from
    an ended programme, so they no longer bind.
    """
    today = local(now).date()
    ended = select(Programme.id).where(Programme.valid_until < today)
    in_ended = Grant.programme_id.in_(ended)
    due_grants = list(
        db.session.execute(
            select(Grant.id, Grant.status, Grant.enterprise_id, Grant.programme_id)
            .where(
                in_ended,
                or_(
                    Grant.status.in_((GrantStatus.APPROVED, GrantStatus.SUSPENDED)),
                    Grant.held_fen > 0,
                    Grant.available_fen > 0,
                    Grant.locked_fen > 0,
                ),
            )
            .order_by(Grant.id)
            .with_for_update()
        ).all()
    )
    counts = {"released": 0, "expired_locked": 0, "expired_available": 0, "closed": 0}
    if not due_grants:
        return counts
    counts["released"] = _count(
        _exec(
            update(VoucherUse)
            .where(VoucherUse.status == UseStatus.HELD, VoucherUse.programme_id.in_(ended))
            .values(status=UseStatus.RELEASED, ended_at=now)
        )
    )
    # Every hold of an ended programme was just released: nothing stays earmarked.
    _exec(update(Grant).where(in_ended, Grant.held_fen > 0).values(held_fen=0))

    booking_used = exists().where(
        Booking.id == VoucherUse.booking_id, Booking.status.in_(DELIVERED)
    )
    order_used = exists().where(
        ServiceOrder.id == VoucherUse.service_order_id, ServiceOrder.status.in_(DELIVERED)
    )
    counts["expired_locked"] = _expire_uses(
        [
            VoucherUse.status == UseStatus.LOCKED,
            VoucherUse.programme_id.in_(ended),
            ~booking_used,
            ~order_used,
        ],
        Bucket.LOCKED,
        _entry_amount(EntryKind.LOCK),
        now,
        "programme ended",
    )

    available = (in_ended, Grant.available_fen > 0, Grant.held_fen == 0)
    _exec(
        insert(LedgerEntry).from_select(
            ["grant_id", "kind", "amount_fen", "from_bucket", "to_bucket", "note", "created_at"],
            select(
                Grant.id,
                literal(EntryKind.EXPIRE.value, String),
                Grant.available_fen,
                literal(Bucket.AVAILABLE.value, String),
                literal(Bucket.EXPIRED.value, String),
                literal("programme ended", String),
                literal(now, UTCDateTime()),
            ).where(*available),
        )
    )
    counts["expired_available"] = _count(
        _exec(
            update(Grant)
            .where(*available)
            .values(expired_fen=Grant.expired_fen + Grant.available_fen, available_fen=0)
        )
    )

    closing = [g for g in due_grants if g[1] in (GrantStatus.APPROVED, GrantStatus.SUSPENDED)]
    if closing:
        _exec(
            update(Grant)
            .where(in_ended, Grant.status.in_((GrantStatus.APPROVED, GrantStatus.SUSPENDED)))
            .values(status=GrantStatus.CLOSED)
        )
    names = dict(
        db.session.execute(
            select(Programme.id, Programme.name_zh).where(
                Programme.id.in_({g[3] for g in closing} or {0})
            )
        ).all()
    )
    for grant_id, before, enterprise_id, programme_id in closing:
        record(
            None,
            "grant.close",
            "voucher_grant",
            grant_id,
            from_state=before,
            to_state=GrantStatus.CLOSED,
            now=now,
            reason="programme ended",
        )
        notify(
            organization_users(enterprise_id),
            "voucher_grant.expired",
            now,
            link="/my/vouchers",
            programme=names.get(programme_id, ""),
        )
    counts["closed"] = len(closing)
    db.session.flush()
    return counts


# --- expire unclaimed uses ------------------------------------------------------------------


def _not_claimed() -> ColumnElement[bool]:
    """No claim, or only one returned for correction and never resubmitted."""
    return ~exists().where(
        Claim.voucher_use_id == VoucherUse.id, Claim.status != ClaimStatus.RETURNED
    )


def expire_unclaimed(now: datetime) -> int:
    """Expire used shares nobody claimed by the claim deadline (逾期不予兑现).

    used, no claim (or only a returned one), claim_deadline before today ->
    EXPIRE used -> expired, use expired. Returns the uses expired.
    """
    today = local(now).date()
    grants = select(VoucherUse.grant_id).where(
        VoucherUse.status == UseStatus.USED, VoucherUse.claim_deadline < today
    )
    # Lock the grants before moving money between their buckets.
    db.session.execute(select(Grant.id).where(Grant.id.in_(grants)).with_for_update()).all()
    expired = _expire_uses(
        [
            VoucherUse.status == UseStatus.USED,
            VoucherUse.claim_deadline < today,
            _not_claimed(),
        ],
        Bucket.USED,
        func.coalesce(VoucherUse.used_fen, VoucherUse.share_fen),
        now,
        "claim deadline passed",
    )
    db.session.flush()
    return expired


# --- verify balances ----------------------------------------------------------------------------


def verify_balances(now: datetime) -> int:
    """Compare every grant's cached buckets with its ledger; report mismatches.

    Logs an error and tells the platform admins (once per day) when any is
    found. Returns the number of mismatching (grant, bucket) pairs.
    """
    found = ledger.mismatches()
    if not found:
        return 0
    sample = ", ".join(f"#{m.grant_id} {m.bucket}" for m in found[:10])
    log.error("voucher ledger: %d mismatches (%s)", len(found), sample)
    day_start = at_local(local(now).date(), time(0))
    admins = list(
        db.session.scalars(
            select(User)
            .join(Organization, Organization.id == User.organization_id)
            .where(Organization.kind == OrgKind.PLATFORM, User.active.is_(True))
            .where(
                ~exists().where(
                    Notification.user_id == User.id,
                    Notification.kind == "voucher_ledger.mismatch",
                    Notification.created_at >= day_start,
                )
            )
            .order_by(User.id)
        )
    )
    notify(admins, "voucher_ledger.mismatch", now, count=len(found), grants=sample)
    return len(found)


# --- remind payees of claim deadlines ----------------------------------------------------------


def remind_claim_deadlines(now: datetime) -> int:
    """Remind payees of used, unclaimed shares whose claim deadline is within 7 days.

    Each use is reminded once (deadline_reminded_at); one notification per
    payee organization per run. Returns the uses reminded.
    """
    today = local(now).date()
    reminded = _count(
        _exec(
            update(VoucherUse)
            .where(
                VoucherUse.status == UseStatus.USED,
                VoucherUse.deadline_reminded_at.is_(None),
                VoucherUse.claim_deadline >= today,
                VoucherUse.claim_deadline <= today + timedelta(days=REMIND_DAYS),
                _not_claimed(),
            )
            .values(deadline_reminded_at=now)
        )
    )
    if not reminded:
        return 0
    payee = payee_sql().label("payee_id")
    groups = db.session.execute(
        select(payee, func.count(), func.min(VoucherUse.claim_deadline))
        .select_from(VoucherUse)
        .join(Programme, Programme.id == VoucherUse.programme_id)
        .where(VoucherUse.deadline_reminded_at == now)
        .group_by(payee)
        .order_by(payee)
    ).all()
    for payee_id, count, earliest in list(groups):
        notify(
            organization_users(int(payee_id)),
            "voucher_claim.deadline",
            now,
            link="/claims",
            count=int(count),
            deadline=str(earliest),
        )
    db.session.flush()
    return reminded
