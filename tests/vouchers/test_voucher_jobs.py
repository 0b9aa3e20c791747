"""The voucher jobs, each called with a given `now`, twice: the second run changes nothing."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from booking.accounts.models import OrgKind
from booking.extensions import db
from booking.notifications.models import Notification
from booking.orders.models import Booking, OrderStatus
from tests.vouchers.test_claims_support import World, at_shanghai, build_world, file
from vouchers import claims, jobs, ledger
from vouchers.models import (
    ClaimStatus,
    EntryKind,
    Grant,
    GrantStatus,
    LedgerEntry,
    UseStatus,
    VoucherUse,
)


@pytest.fixture
def world(
    make_org: Any,
    make_user: Any,
    make_region: Any,
    make_programme: Any,
    make_grant: Any,
    make_use: Any,
) -> World:
    return build_world(make_org, make_user, make_region, make_programme, make_grant, make_use)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "uploads"


def _entries(kind: EntryKind) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.kind == kind).order_by(LedgerEntry.id)
        )
    )


def _reload(*objects: Any) -> None:
    for obj in objects:
        db.session.refresh(obj)


# --- expire_grants -----------------------------------------------------------------------


def test_expire_grants_at_programme_end(world: World) -> None:
    held = world.used(share_fen=200_000, status=UseStatus.HELD)
    stale = world.used(share_fen=300_000, status=UseStatus.LOCKED)
    booking = db.session.get(Booking, stale.booking_id)
    assert booking is not None
    booking.status = OrderStatus.CONFIRMED  # never got to use
    in_use = world.used(
        share_fen=400_000, status=UseStatus.LOCKED
    )  # its booking is closed: delivered
    used = world.used(share_fen=1_000_000)
    # 10,000,000 granted: 200,000 held of the available 8,300,000.
    _reload(world.grant)
    assert (world.grant.available_fen, world.grant.held_fen, world.grant.locked_fen) == (
        8_300_000,
        200_000,
        700_000,
    )
    still_valid = at_shanghai(2026, 12, 31, 23)
    assert jobs.expire_grants(still_valid) == {
        "released": 0,
        "expired_locked": 0,
        "expired_available": 0,
        "closed": 0,
    }

    now = at_shanghai(2027, 1, 1, 0)
    assert jobs.expire_grants(now) == {
        "released": 1,
        "expired_locked": 1,
        "expired_available": 1,
        "closed": 1,
    }
    _reload(world.grant, held, stale, in_use, used)
    assert (held.status, stale.status, in_use.status, used.status) == (
        UseStatus.RELEASED,
        UseStatus.EXPIRED,
        UseStatus.LOCKED,
        UseStatus.USED,
    )
    grant = world.grant
    assert grant.status == GrantStatus.CLOSED
    assert (grant.available_fen, grant.held_fen, grant.locked_fen, grant.used_fen) == (
        0,
        0,
        400_000,
        1_000_000,
    )
    assert grant.expired_fen == 8_300_000 + 300_000
    expires = _entries(EntryKind.EXPIRE)
    assert sorted((e.from_bucket, e.amount_fen, e.voucher_use_id) for e in expires) == sorted(
        [("available", 8_300_000, None), ("locked", 300_000, stale.id)]
    )
    assert ledger.mismatches() == []
    notes = db.session.scalars(select(Notification.kind)).all()
    assert "voucher_grant.expired" in notes

    assert jobs.expire_grants(now) == {
        "released": 0,
        "expired_locked": 0,
        "expired_available": 0,
        "closed": 0,
    }
    assert len(_entries(EntryKind.EXPIRE)) == 2


def test_suspended_grants_close_too(world: World) -> None:
    world.grant.status = GrantStatus.SUSPENDED
    db.session.flush()
    result = jobs.expire_grants(at_shanghai(2027, 1, 2))
    assert result["closed"] == 1 and result["expired_available"] == 1
    _reload(world.grant)
    assert world.grant.status == GrantStatus.CLOSED and ledger.mismatches() == []


# --- expire_unclaimed ---------------------------------------------------------------------------


def test_expire_unclaimed_after_the_deadline(world: World, root: Path) -> None:
    unclaimed = world.used(share_fen=500_000)
    returned_use = world.used(share_fen=300_000)
    returned = file(world, returned_use, root)
    claims.return_claim(returned.id, world.authority_user, "补充材料", at_shanghai(2027, 1, 5))
    pending = world.used(share_fen=200_000)
    file(world, pending, root)

    on_deadline = at_shanghai(2027, 3, 31, 23)
    assert jobs.expire_unclaimed(on_deadline) == 0
    after = at_shanghai(2027, 4, 1, 0)
    assert jobs.expire_unclaimed(after) == 2
    _reload(unclaimed, returned_use, pending, world.grant, returned)
    assert (unclaimed.status, returned_use.status, pending.status) == (
        UseStatus.EXPIRED,
        UseStatus.EXPIRED,
        UseStatus.USED,
    )
    assert returned.status == ClaimStatus.RETURNED
    assert (world.grant.used_fen, world.grant.expired_fen) == (200_000, 800_000)
    assert {(e.from_bucket, e.amount_fen) for e in _entries(EntryKind.EXPIRE)} == {
        ("used", 500_000),
        ("used", 300_000),
    }
    assert ledger.mismatches() == []
    assert jobs.expire_unclaimed(after) == 0
    with pytest.raises(Exception, match="确认"):
        claims.resubmit_claim(
            returned.id,
            world.provider_user,
            claims.ClaimDetails("X", 2_000_000, world.provider.name_zh, "b", "1"),
            {},
            root,
            after,
        )


# --- verify_balances ------------------------------------------------------------------------------


def test_verify_balances_reports_and_tells_admins_once_a_day(world: World) -> None:
    admin = world.make_user(kind=OrgKind.PLATFORM)
    world.used()
    now = at_shanghai(2026, 12, 5)
    assert jobs.verify_balances(now) == 0
    # Tamper with the cache (the sum still holds, so the CHECK lets it through).
    db.session.execute(
        update(Grant)
        .where(Grant.id == world.grant.id)
        .values(available_fen=Grant.available_fen - 1, expired_fen=Grant.expired_fen + 1)
    )
    assert jobs.verify_balances(now) == 2
    assert jobs.verify_balances(now) == 2
    notes = db.session.scalars(
        select(Notification).where(Notification.kind == "voucher_ledger.mismatch")
    ).all()
    assert [n.user_id for n in notes] == [admin.id]
    assert jobs.verify_balances(at_shanghai(2026, 12, 6)) == 2
    count = db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.kind == "voucher_ledger.mismatch")
    )
    assert count == 2


# --- remind_claim_deadlines -----------------------------------------------------------------


def test_remind_payees_once_within_seven_days(world: World, root: Path) -> None:
    soon = world.used()
    soon.claim_deadline = date(2026, 12, 10)
    later = world.used()
    later.claim_deadline = date(2026, 12, 20)
    claimed = world.used()
    claimed.claim_deadline = date(2026, 12, 9)
    file(world, claimed, root, now=at_shanghai(2026, 12, 2))
    db.session.flush()

    now = at_shanghai(2026, 12, 3)
    assert jobs.remind_claim_deadlines(now) == 1
    _reload(soon, later)
    assert soon.deadline_reminded_at == now and later.deadline_reminded_at is None
    note = db.session.scalar(
        select(Notification).where(Notification.kind == "voucher_claim.deadline")
    )
    assert note is not None and note.user_id == world.provider_user.id
    assert note.params["count"] == 1 and note.params["deadline"] == "2026-12-10"
    assert jobs.remind_claim_deadlines(now) == 0
    assert jobs.remind_claim_deadlines(at_shanghai(2026, 12, 13)) == 1
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(VoucherUse)
            .where(VoucherUse.deadline_reminded_at.is_not(None))
        )
        == 2
    )


def test_jobs_are_registered_with_schedules() -> None:
    from booking.scheduler import registry

    for name in (
        "vouchers.settle",
        "vouchers.expire_grants",
        "vouchers.expire_unclaimed",
        "vouchers.verify_balances",
        "vouchers.remind_claim_deadlines",
    ):
        job = registry.get_job(name)
        assert job.func.__module__ == "vouchers.jobs" and job.description
        assert registry.DEFAULT_SCHEDULES[name]
