"""Settlement (vouchers.settlement and the vouchers.settle job): periods,
set-based batches, idempotence, all-or-nothing, payment, the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from booking.accounts.models import OrgKind
from booking.audit.models import AuditEvent
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db
from booking.notifications.models import Notification
from tests.vouchers.test_claims_support import World, approved, at_shanghai, build_world, file
from vouchers import jobs, settlement
from vouchers.models import (
    Claim,
    ClaimStatus,
    RegionFlow,
    SettlementBatch,
    SettlementCycle,
    StatementLine,
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


OCT = at_shanghai(2026, 10, 20)
NOV = at_shanghai(2026, 11, 20)
AFTER_OCT = at_shanghai(2026, 11, 1, 1)


def _batches() -> list[SettlementBatch]:
    return list(db.session.scalars(select(SettlementBatch).order_by(SettlementBatch.id)))


def _second_provider_world(world: World) -> tuple[Any, Any]:
    """Another recognised provider in the authority's own region."""
    provider = world.make_org(kind=OrgKind.PROVIDER, region=world.authority.region)
    world.programme.recognised.append(settlement_recognised(provider.id))
    user = world.make_user(org=provider)
    db.session.flush()
    return provider, user


def settlement_recognised(provider_id: int) -> Any:
    from vouchers.models import RecognisedProvider

    return RecognisedProvider(provider_id=provider_id)


# --- periods ------------------------------------------------------------------------------


def test_periods_parse_and_bound() -> None:
    october = settlement.parse_period("2026-10")
    assert (october.start.isoformat(), october.end.isoformat()) == ("2026-10-01", "2026-11-01")
    assert october.cycle == SettlementCycle.MONTHLY
    q4 = settlement.parse_period("2026-q4")
    assert (q4.label, q4.start.isoformat(), q4.end.isoformat()) == (
        "2026-Q4",
        "2026-10-01",
        "2027-01-01",
    )
    assert settlement.parse_period("2026-12").end.isoformat() == "2027-01-01"
    # Midnight Shanghai is 16:00 UTC the day before.
    assert october.ends_at.isoformat() == "2026-10-31T16:00:00+00:00"
    assert settlement.last_closed(at_shanghai(2026, 11, 1, 0), "monthly").label == "2026-10"
    assert settlement.last_closed(at_shanghai(2027, 1, 5), "quarterly").label == "2026-Q4"
    assert settlement.period_of(at_shanghai(2026, 10, 31, 23), "monthly").label == "2026-10"
    assert settlement.parse_period("2026-11").next().label == "2026-12"


@pytest.mark.parametrize(
    "bad", ["2026-13", "2026-00", "2026-Q5", "26-10", "2026/10", "", "1800-01"]
)
def test_bad_periods_are_refused(bad: str) -> None:
    with pytest.raises(DomainError, match="2026-Q4"):
        settlement.parse_period(bad)


# --- closing a period --------------------------------------------------------------------------


def test_settle_groups_by_payee_and_region_and_runs_once(world: World, root: Path) -> None:
    near, _near_user = _second_provider_world(world)
    a = approved(world, world.used(), root, OCT)
    b = approved(world, world.used(share_fen=600_000), root, OCT)
    c_use = world.used(provider=near)
    c = file(world, c_use, root, now=OCT)
    from vouchers import claims

    claims.approve_claim(c.id, world.authority_user, OCT)
    november = approved(world, world.used(), root, NOV)
    submitted = file(world, world.used(), root, now=OCT)

    result = settlement.settle("2026-10", AFTER_OCT)
    assert (result.batches, result.claims, result.total_fen) == (1, 3, 2_600_000)
    (batch,) = _batches()
    assert (batch.period, batch.claim_count, batch.total_fen) == ("2026-10", 3, 2_600_000)
    assert {x.id for x in db.session.scalars(select(Claim).where(Claim.batch_id == batch.id))} == {
        a.id,
        b.id,
        c.id,
    }
    lines = {
        (s.payee_id, s.amount_fen, s.claim_count) for s in db.session.scalars(select(StatementLine))
    }
    assert lines == {(world.provider.id, 1_600_000, 2), (near.id, 1_000_000, 1)}
    flows = {
        (f.issuing_region_id, f.provider_region_id, f.amount_fen, f.claim_count)
        for f in db.session.scalars(select(RegionFlow))
    }
    home, away = world.authority.region_id, world.provider.region_id
    assert flows == {(home, away, 1_600_000, 2), (home, home, 1_000_000, 1)}
    db.session.refresh(november)
    db.session.refresh(submitted)
    assert november.batch_id is None and submitted.batch_id is None
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "voucher_batch")
    ).all()
    assert [(e.action, e.object_id) for e in events] == [("batch.close", batch.id)]

    again = settlement.settle("2026-10", AFTER_OCT)
    assert (again.batches, again.claims) == (0, 0)
    assert len(_batches()) == 1
    assert db.session.scalar(select(func.count()).select_from(StatementLine)) == 2


def test_open_and_future_periods_are_refused(world: World, root: Path) -> None:
    approved(world, world.used(), root, OCT)
    with pytest.raises(DomainError, match="尚未结束"):
        settlement.settle("2026-10", at_shanghai(2026, 10, 31, 23))
    with pytest.raises(DomainError, match="尚未结束"):
        settlement.settle("2027-01", AFTER_OCT)
    assert _batches() == []


def test_cycles_are_kept_apart(world: World, root: Path) -> None:
    quarterly = world.make_programme(
        authority=world.authority, providers=[world.provider], settlement_cycle="quarterly"
    )
    grant = world.make_grant(quarterly, world.enterprise)
    monthly_claim = approved(world, world.used(), root, OCT)
    quarterly_claim = approved(world, world.used(grant=grant), root, OCT)

    assert settlement.settle("2026-10", AFTER_OCT).claims == 1
    db.session.refresh(quarterly_claim)
    db.session.refresh(monthly_claim)
    assert quarterly_claim.batch_id is None and monthly_claim.batch_id is not None
    with pytest.raises(DomainError):
        settlement.settle("2026-Q4", AFTER_OCT)
    q = settlement.settle("2026-Q4", at_shanghai(2027, 1, 2))
    assert (q.batches, q.claims) == (1, 1)
    assert sorted(b.period for b in _batches()) == ["2026-10", "2026-Q4"]


def test_one_authority_only(world: World, root: Path, make_programme: Any, make_grant: Any) -> None:
    approved(world, world.used(), root, OCT)
    other_programme = make_programme(providers=[world.provider])
    other_authority_user = world.make_user(org=other_programme.authority)
    use = world.used(grant=make_grant(other_programme, world.enterprise))
    claim = file(world, use, root, now=OCT)
    from vouchers import claims

    claims.approve_claim(claim.id, other_authority_user, OCT)
    done = settlement.settle("2026-10", AFTER_OCT, authority_id=world.authority.id)
    assert done.batches == 1 and [b.authority_id for b in _batches()] == [world.authority.id]
    rest = settlement.settle("2026-10", AFTER_OCT)
    assert rest.batches == 1 and len(_batches()) == 2


def test_a_crash_mid_run_leaves_no_partial_batch(
    world: World, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    claim = approved(world, world.used(), root, OCT)
    claim_id = claim.id
    db.session.commit()

    def boom(batch_id: int) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(settlement, "_after_claims_assigned", boom)
    with pytest.raises(RuntimeError):
        settlement.settle("2026-10", AFTER_OCT)
    db.session.rollback()
    assert _batches() == []
    again = db.session.get(Claim, claim_id)
    assert again is not None and again.batch_id is None
    assert db.session.scalar(select(func.count()).select_from(StatementLine)) == 0

    monkeypatch.undo()
    assert settlement.settle("2026-10", AFTER_OCT).claims == 1


# --- payment ------------------------------------------------------------------------------


def test_recording_the_payment_pays_the_batch_and_its_claims(world: World, root: Path) -> None:
    a = approved(world, world.used(), root, OCT)
    b = approved(world, world.used(), root, OCT)
    (batch_id,) = settlement.settle("2026-10", AFTER_OCT).batch_ids
    paid_at = at_shanghai(2026, 11, 15)
    with pytest.raises(DomainError, match="付款凭证号"):
        settlement.record_payment(batch_id, world.authority_user, "  ", paid_at)
    stranger = world.make_user(kind=OrgKind.AUTHORITY)
    with pytest.raises(NotFound):
        settlement.record_payment(batch_id, stranger, "X", paid_at)

    batch = settlement.record_payment(batch_id, world.authority_user, "CZ-2026-1101", paid_at)
    assert (batch.status, batch.payment_reference, batch.paid_at) == (
        "paid",
        "CZ-2026-1101",
        paid_at,
    )
    for claim in (a, b):
        db.session.refresh(claim)
        assert (claim.status, claim.paid_at) == (ClaimStatus.PAID, paid_at)
    paid_events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "claim.pay").order_by(AuditEvent.object_id)
    ).all()
    assert [
        (e.object_id, e.from_state, e.to_state, e.detail["reference"]) for e in paid_events
    ] == [
        (a.id, "approved", "paid", "CZ-2026-1101"),
        (b.id, "approved", "paid", "CZ-2026-1101"),
    ]
    note = db.session.scalar(select(Notification).where(Notification.kind == "voucher_batch.paid"))
    assert note is not None and note.user_id == world.provider_user.id
    assert note.params == {"period": "2026-10", "reference": "CZ-2026-1101"}

    with pytest.raises(InvalidTransition, match="重复"):
        settlement.record_payment(batch_id, world.authority_user, "AGAIN", paid_at)
    db.session.refresh(batch)
    assert batch.payment_reference == "CZ-2026-1101"


# --- the job and the CLI ----------------------------------------------------------------------


def test_job_catches_up_every_closed_period_once(world: World, root: Path) -> None:
    approved(world, world.used(), root, at_shanghai(2026, 9, 10))
    approved(world, world.used(), root, OCT)
    approved(world, world.used(), root, at_shanghai(2026, 12, 2))  # December is still open
    now = at_shanghai(2026, 12, 3)
    assert jobs.settle(now) == {"batches": 2, "claims": 2}
    assert [b.period for b in _batches()] == ["2026-09", "2026-10"]
    assert jobs.settle(now) == {"batches": 0, "claims": 0}
    assert jobs.settle(at_shanghai(2027, 1, 1, 2)) == {"batches": 1, "claims": 1}


def test_job_with_a_period_closes_just_that_one(world: World, root: Path) -> None:
    approved(world, world.used(), root, at_shanghai(2026, 9, 10))
    approved(world, world.used(), root, OCT)
    # September's claim was approved before October ended: it joins October's batch.
    assert jobs.settle(at_shanghai(2026, 12, 3), period="2026-10") == {"batches": 1, "claims": 2}
    assert [b.period for b in _batches()] == ["2026-10"]


def test_cli_runs_settle_for_one_period(app: Flask, world: World, root: Path) -> None:
    approved(world, world.used(), root, OCT)
    db.session.commit()
    cli = app.test_cli_runner()
    args = [
        "jobs",
        "run",
        "vouchers.settle",
        "--period",
        "2026-10",
        "--now",
        "2026-12-01T09:00+08:00",
    ]
    result = cli.invoke(args=args)
    assert result.exit_code == 0, result.output
    assert result.output == "vouchers.settle: batches=1, claims=1\n"
    db.session.rollback()
    assert [b.period for b in _batches()] == ["2026-10"]
    again = cli.invoke(args=args)
    assert again.output == "vouchers.settle: batches=0, claims=0\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "run", "vouchers.settle", "--period", "2026-13"], "'2026-13' is not a period"),
        (["jobs", "run", "vouchers.settle", "--period", "oct"], "YYYY-MM"),
        (["jobs", "run", "vouchers.expire_grants", "--period", "2026-10"], "takes no period"),
    ],
)
def test_cli_refuses_a_bad_period(app: Flask, args: list[str], message: str) -> None:
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == 2
    assert message in result.output


def test_cli_refuses_a_period_not_yet_ended(app: Flask) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "jobs",
            "run",
            "vouchers.settle",
            "--period",
            "2026-12",
            "--now",
            "2026-12-20T09:00+08:00",
        ]
    )
    assert result.exit_code == 1
    assert "尚未结束" in result.output
