"""Applications and grants (额度): a verified firm applies to an open
programme of its home authority with its certificate; the authority
approves (possibly for less) within the firm's cap and the programme's
budget, rejects with a reason, suspends and resumes. Refusals write nothing.
Also the queries behind the dashboard: budget burn, split flags, flows."""

from __future__ import annotations

import threading
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from booking.accounts.models import OrgKind, User
from booking.audit.models import AuditEvent
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db
from booking.notifications.models import Notification
from tests.vouchers.grant_helpers import (
    NOW,
    PDF,
    Factories,
    World,
    application,
    counts,
    evidence,
    factories,
    world,
)
from vouchers import ledger
from vouchers import programmes as svc
from vouchers.models import (
    Claim,
    EntryKind,
    Grant,
    GrantStatus,
    LedgerEntry,
    Programme,
    UseStatus,
)

__all__ = ["factories", "world"]


def apply(world: World, tmp_path: Path, amount_fen: int = 3_000_000, **overrides: object) -> Grant:
    return svc.apply_for_grant(
        world.firm_user,
        world.programme.id,
        application(amount_fen, **overrides),  # type: ignore[arg-type]
        evidence(),
        tmp_path,
        NOW,
    )


def submitted(world: World, tmp_path: Path, amount_fen: int = 3_000_000) -> Grant:
    grant = apply(world, tmp_path, amount_fen)
    db.session.commit()
    return grant


# --- applying ------------------------------------------------------------------------------


def test_verified_firm_applies_with_its_certificate(world: World, tmp_path: Path) -> None:
    grant = apply(world, tmp_path)
    db.session.commit()

    assert grant.status == GrantStatus.SUBMITTED
    assert (grant.requested_fen, grant.approved_fen, grant.available_fen) == (3_000_000, None, 0)
    assert grant.applicant_id == world.firm_user.id
    assert grant.certificate_no == "GR202631000123"
    assert grant.evidence_path and (tmp_path / grant.evidence_path).read_bytes() == PDF
    assert grant.evidence_path.startswith(f"{world.firm.id}/")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.object_type == "voucher_grant"))
    assert event is not None
    assert (event.action, event.to_state, event.detail["amount_fen"]) == (
        "voucher_grant.apply",
        "submitted",
        3_000_000,
    )
    note = db.session.scalar(select(Notification))
    assert note is not None and note.user_id == world.officer.id
    assert note.kind == "voucher_grant.submitted"
    assert note.link == f"/authority/vouchers/grants/{grant.id}"


def test_retried_submission_makes_one_application(world: World, tmp_path: Path) -> None:
    first = apply(world, tmp_path, idempotency_key="k-1")
    db.session.commit()
    again = apply(world, tmp_path, idempotency_key="k-1")
    assert again.id == first.id
    assert len(db.session.scalars(select(Grant)).all()) == 1


def test_unverified_firm_is_refused(world: World, tmp_path: Path) -> None:
    world.firm.status = "pending"
    db.session.commit()
    before = counts()
    with pytest.raises(DomainError, match="尚未通过认证"):
        apply(world, tmp_path)
    assert counts() == before
    assert not any(tmp_path.iterdir()) if tmp_path.exists() else True


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"applications_open_on": date(2026, 12, 2)}, "不在申请期内"),
        ({"applications_close_on": date(2026, 11, 30)}, "不在申请期内"),
    ],
)
def test_applications_outside_the_window_are_refused(
    world: World, factories: Factories, tmp_path: Path, window: dict[str, date], message: str
) -> None:
    world.programme = factories.programme(world.authority, **window)
    db.session.commit()
    before = counts()
    with pytest.raises(DomainError, match=message):
        apply(world, tmp_path)
    assert counts() == before


def test_closed_programme_is_refused(world: World, tmp_path: Path) -> None:
    world.programme.closed_at = NOW - timedelta(days=1)
    db.session.commit()
    with pytest.raises(DomainError, match="不在申请期内"):
        apply(world, tmp_path)


def test_ineligible_category_is_refused(world: World, factories: Factories, tmp_path: Path) -> None:
    world.programme = factories.programme(world.authority, eligible_categories=["high_tech"])
    db.session.commit()
    before = counts()
    with pytest.raises(DomainError, match="类别不在"):
        apply(world, tmp_path, category="high_tech")  # the firm itself is a tech SME
    world.firm.enterprise_category = "high_tech"
    db.session.commit()
    with pytest.raises(DomainError) as refused:
        apply(world, tmp_path, category="tech_sme")
    assert refused.value.field == "category"
    assert counts() == before


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"certificate_valid_until": date(2026, 11, 30)}, "certificate_valid_until"),
        ({"certificate_valid_from": date(2026, 12, 2)}, "certificate_valid_from"),
        (
            {
                "certificate_valid_from": date(2026, 6, 1),
                "certificate_valid_until": date(2026, 5, 1),
            },
            "certificate_valid_until",
        ),
        ({"certificate_no": "  "}, "certificate_no"),
        ({"category": "giant"}, "category"),
    ],
)
def test_bad_certificates_are_refused(
    world: World, tmp_path: Path, overrides: dict[str, object], field: str
) -> None:
    before = counts()
    with pytest.raises(DomainError) as refused:
        apply(world, tmp_path, **overrides)
    assert refused.value.field == field
    assert counts() == before


def test_evidence_must_be_a_pdf(world: World, tmp_path: Path) -> None:
    before = counts()
    with pytest.raises(DomainError) as refused:
        svc.apply_for_grant(
            world.firm_user,
            world.programme.id,
            application(),
            evidence(b"MZ\x90\x00", "cert.pdf"),
            tmp_path,
            NOW,
        )
    assert refused.value.field == "evidence"
    assert counts() == before


@pytest.mark.parametrize("amount_fen", [0, -100])
def test_amount_must_be_positive(world: World, tmp_path: Path, amount_fen: int) -> None:
    with pytest.raises(DomainError) as refused:
        apply(world, tmp_path, amount_fen)
    assert refused.value.field == "amount"


def test_amount_within_the_firms_remaining_cap(
    world: World, factories: Factories, tmp_path: Path
) -> None:
    # cap ¥100,000: ¥40,000 approved, ¥30,000 pending leaves ¥30,000
    factories.make_grant(world.programme, enterprise=world.firm, amount_fen=4_000_000)
    submitted(world, tmp_path, 3_000_000)
    factories.make_grant(
        world.programme, enterprise=world.firm, amount_fen=9_000_000, status="rejected"
    )
    db.session.commit()
    before = counts()
    with pytest.raises(DomainError, match=r"30,000\.00") as refused:
        apply(world, tmp_path, 3_000_001)
    assert refused.value.field == "amount"
    assert counts() == before
    assert apply(world, tmp_path, 3_000_000).requested_fen == 3_000_000


def test_programmes_of_other_regions_and_non_firms_are_not_found(
    world: World, factories: Factories, tmp_path: Path
) -> None:
    elsewhere = factories.programme(factories.make_org(kind=OrgKind.AUTHORITY))
    with pytest.raises(NotFound):
        svc.apply_for_grant(world.firm_user, elsewhere.id, application(), evidence(), tmp_path, NOW)
    with pytest.raises(NotFound):
        svc.apply_for_grant(
            world.officer, world.programme.id, application(), evidence(), tmp_path, NOW
        )


def test_open_programmes_lists_only_what_the_firm_may_apply_to(
    world: World, factories: Factories
) -> None:
    high_tech_only = factories.programme(world.authority, eligible_categories=["high_tech"])
    closed = factories.programme(world.authority, applications_close_on=date(2026, 11, 1))
    elsewhere = factories.programme(factories.make_org(kind=OrgKind.AUTHORITY))
    listed = {p.id for p in svc.open_programmes(world.firm, NOW)}
    assert world.programme.id in listed
    assert not listed & {high_tech_only.id, closed.id, elsewhere.id}


# --- deciding ------------------------------------------------------------------------------------


def test_approval_issues_through_the_ledger_and_draws_the_budget(
    world: World, tmp_path: Path
) -> None:
    grant = submitted(world, tmp_path)
    svc.approve_grant(world.officer, grant.id, NOW)
    db.session.commit()

    db.session.refresh(grant)
    assert grant.status == GrantStatus.APPROVED
    assert (grant.approved_fen, grant.available_fen) == (3_000_000, 3_000_000)
    assert grant.decided_by_id == world.officer.id and grant.decided_at is not None
    assert db.session.get(Programme, world.programme.id).granted_fen == 3_000_000  # type: ignore[union-attr]
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.grant_id == grant.id))
    assert entry is not None and (entry.kind, entry.amount_fen) == (EntryKind.ISSUE, 3_000_000)
    assert entry.actor_id == world.officer.id
    assert ledger.mismatches() == []
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "voucher_grant.approve")
    )
    assert event is not None
    assert (event.from_state, event.to_state, event.detail["amount_fen"]) == (
        "submitted",
        "approved",
        3_000_000,
    )
    note = db.session.scalar(
        select(Notification).where(Notification.kind == "voucher_grant.approved")
    )
    assert note is not None and note.user_id == world.firm_user.id


def test_approval_for_a_lower_amount(world: World, tmp_path: Path) -> None:
    grant = submitted(world, tmp_path)
    svc.approve_grant(world.officer, grant.id, NOW, amount_fen=1_000_050)
    db.session.commit()
    db.session.refresh(grant)
    assert (grant.requested_fen, grant.approved_fen, grant.available_fen) == (
        3_000_000,
        1_000_050,
        1_000_050,
    )


def test_an_ended_programme_approves_nothing(world: World, tmp_path: Path) -> None:
    grant = submitted(world, tmp_path)
    after_the_end = datetime.combine(
        world.programme.valid_until + timedelta(days=2), datetime.min.time(), tzinfo=NOW.tzinfo
    )
    before = counts()
    with pytest.raises(DomainError, match="结束"):
        svc.approve_grant(world.officer, grant.id, after_the_end)
    assert counts() == before


@pytest.mark.parametrize("amount_fen", [0, -1, 3_000_001])
def test_approval_amount_must_be_positive_and_within_the_request(
    world: World, tmp_path: Path, amount_fen: int
) -> None:
    grant = submitted(world, tmp_path)
    before = counts()
    with pytest.raises(DomainError) as refused:
        svc.approve_grant(world.officer, grant.id, NOW, amount_fen=amount_fen)
    assert refused.value.field == "approved_amount"
    assert counts() == before


def test_approval_beyond_the_budget_is_refused_on_the_amount(
    world: World, factories: Factories, tmp_path: Path
) -> None:
    world.programme = factories.programme(world.authority, budget_fen=5_000_000)
    factories.make_grant(world.programme, amount_fen=2_500_000)
    db.session.commit()
    grant = submitted(world, tmp_path, 3_000_000)
    before = counts()
    with pytest.raises(ledger.InsufficientFunds) as refused:
        svc.approve_grant(world.officer, grant.id, NOW)
    assert refused.value.field == "approved_amount"
    assert counts() == before
    svc.approve_grant(world.officer, grant.id, NOW, amount_fen=2_500_000)
    db.session.commit()
    assert db.session.get(Programme, world.programme.id).granted_fen == 5_000_000  # type: ignore[union-attr]


def test_approval_rechecks_the_firms_cap(
    world: World, factories: Factories, tmp_path: Path
) -> None:
    grant = submitted(world, tmp_path, 6_000_000)
    # approved meanwhile (e.g. the cap counted a since-rejected request differently)
    factories.make_grant(world.programme, enterprise=world.firm, amount_fen=5_000_000)
    db.session.commit()
    assert svc.approvable_fen(grant) == 5_000_000
    before = counts()
    with pytest.raises(DomainError, match="剩余上限") as refused:
        svc.approve_grant(world.officer, grant.id, NOW)
    assert refused.value.field == "approved_amount"
    assert counts() == before


def test_deciding_twice_is_an_invalid_transition(world: World, tmp_path: Path) -> None:
    grant = submitted(world, tmp_path)
    svc.approve_grant(world.officer, grant.id, NOW)
    db.session.commit()
    before = counts()
    with pytest.raises(InvalidTransition, match="已批准"):
        svc.approve_grant(world.officer, grant.id, NOW)
    with pytest.raises(InvalidTransition):
        svc.reject_grant(world.officer, grant.id, "重复", NOW)
    with pytest.raises(InvalidTransition):
        svc.resume_grant(world.officer, grant.id, NOW)
    assert counts() == before


def test_rejection_needs_a_reason_and_tells_the_firm(world: World, tmp_path: Path) -> None:
    grant = submitted(world, tmp_path)
    with pytest.raises(DomainError) as refused:
        svc.reject_grant(world.officer, grant.id, "   ", NOW)
    assert refused.value.field == "reason"
    svc.reject_grant(world.officer, grant.id, "证书与营业执照名称不一致", NOW)
    db.session.commit()
    db.session.refresh(grant)
    assert grant.status == GrantStatus.REJECTED
    assert grant.decision_reason == "证书与营业执照名称不一致"
    assert grant.approved_fen is None
    note = db.session.scalar(
        select(Notification).where(Notification.kind == "voucher_grant.rejected")
    )
    assert note is not None and note.params["reason"] == "证书与营业执照名称不一致"
    with pytest.raises(InvalidTransition, match="未批准"):
        svc.approve_grant(world.officer, grant.id, NOW)


def test_suspend_and_resume(world: World, factories: Factories) -> None:
    grant = factories.make_grant(world.programme, enterprise=world.firm)
    db.session.commit()
    with pytest.raises(DomainError):
        svc.suspend_grant(world.officer, grant.id, "", NOW)
    svc.suspend_grant(world.officer, grant.id, "涉嫌拆单，核查中", NOW)
    db.session.commit()
    assert db.session.get(Grant, grant.id).status == GrantStatus.SUSPENDED  # type: ignore[union-attr]
    # a suspended grant pays for no new order
    with pytest.raises(ledger.InsufficientFunds):
        ledger.hold(grant.id, 100)
    db.session.rollback()
    with pytest.raises(InvalidTransition):
        svc.suspend_grant(world.officer, grant.id, "again", NOW)
    svc.resume_grant(world.officer, grant.id, NOW)
    db.session.commit()
    db.session.refresh(grant)
    assert grant.status == GrantStatus.APPROVED and grant.decision_reason is None
    actions = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_type == "voucher_grant", AuditEvent.object_id == grant.id)
        .order_by(AuditEvent.id)
    ).all()
    assert actions == ["voucher_grant.suspend", "voucher_grant.resume"]
    kinds = db.session.scalars(select(Notification.kind).order_by(Notification.id)).all()
    assert kinds == ["voucher_grant.suspended", "voucher_grant.resumed"]


def test_another_authority_cannot_touch_the_grant(
    world: World, factories: Factories, tmp_path: Path
) -> None:
    grant = submitted(world, tmp_path)
    other = factories.make_user(org=factories.make_org(kind=OrgKind.AUTHORITY))
    before = counts()
    with pytest.raises(NotFound):
        svc.approve_grant(other, grant.id, NOW)
    with pytest.raises(NotFound):
        svc.reject_grant(other, grant.id, "no", NOW)
    with pytest.raises(NotFound):
        svc.suspend_grant(other, grant.id, "no", NOW)
    with pytest.raises(NotFound):
        svc.resume_grant(other, grant.id, NOW)
    for actor in (world.firm_user, factories.make_user(kind=OrgKind.PLATFORM)):
        with pytest.raises(NotFound):
            svc.approve_grant(actor, grant.id, NOW)
    assert counts() == before


def test_certificates_go_to_the_firm_and_the_programmes_authority(
    world: World, factories: Factories, tmp_path: Path
) -> None:
    grant = submitted(world, tmp_path)
    assert svc.may_download_certificate(grant, world.firm_user)
    assert svc.may_download_certificate(grant, world.officer)
    other_firm = factories.make_user(kind=OrgKind.ENTERPRISE)
    other_authority = factories.make_user(kind=OrgKind.AUTHORITY)
    provider = factories.make_user(kind=OrgKind.PROVIDER)
    platform = factories.make_user(kind=OrgKind.PLATFORM)
    for user in (other_firm, other_authority, provider, platform):
        assert not svc.may_download_certificate(grant, user)


# --- what the dashboard reads -------------------------------------------------------------


def add_claim(use_id: int, status: str, amount_fen: int, n: int) -> None:
    from vouchers.models import VoucherUse

    use = db.session.get(VoucherUse, use_id)
    assert use is not None
    programme = use.programme
    db.session.add(
        Claim(
            voucher_use_id=use.id,
            programme_id=programme.id,
            authority_id=programme.authority_id,
            payee_id=use.provider_id,
            issuing_region_id=programme.authority.region_id,
            provider_region_id=use.provider.region_id,
            amount_fen=amount_fen,
            status=status,
            invoice_number=f"INV{n}",
            invoice_amount_fen=use.price_fen,
            payee_account_name="测试",
            payee_bank="银行",
            payee_account_no="6222",
        )
    )
    db.session.flush()


def test_budget_burn_sums_grants_and_claims(
    world: World, factories: Factories, make_use: object
) -> None:
    provider = factories.make_org(kind=OrgKind.PROVIDER)
    grant = factories.make_grant(world.programme, enterprise=world.firm, amount_fen=5_000_000)
    other = factories.make_grant(world.programme, amount_fen=2_000_000)
    used = [make_use(grant, provider, share_fen=1_000_000) for _ in range(3)]  # type: ignore[operator]
    make_use(other, provider, share_fen=400_000, status=UseStatus.LOCKED)  # type: ignore[operator]
    add_claim(used[0].id, "paid", 1_000_000, 1)
    add_claim(used[1].id, "submitted", 1_000_000, 2)
    add_claim(used[2].id, "returned", 1_000_000, 3)
    factories.programme(world.authority, code="EMPTY")
    factories.programme(factories.make_org(kind=OrgKind.AUTHORITY))  # not this authority's
    db.session.commit()

    burns = {b.programme.code: b for b in svc.budget_burn(world.authority.id)}
    assert set(burns) == {world.programme.code, "EMPTY"}
    b = burns[world.programme.code]
    assert (b.budget_fen, b.granted_fen, b.locked_fen, b.used_fen, b.claimed_fen, b.paid_fen) == (
        100_000_000,
        7_000_000,
        400_000,
        3_000_000,
        2_000_000,
        1_000_000,
    )
    stack = b.stack()
    assert sum(stack.values()) == b.budget_fen
    assert stack == {
        "paid": 1_000_000,
        "claimed": 1_000_000,
        "used": 1_000_000,
        "locked": 400_000,
        "granted": 3_600_000,
        "free": 93_000_000,
    }
    empty = burns["EMPTY"]
    assert (empty.granted_fen, empty.used_fen, empty.claimed_fen) == (0, 0, 0)


def test_split_flags_and_flows_are_scoped_to_the_authority(
    world: World, factories: Factories, make_use: object
) -> None:
    far = factories.make_org(kind=OrgKind.PROVIDER)
    near = factories.make_org(kind=OrgKind.PROVIDER, region=world.authority.region)
    grant = factories.make_grant(world.programme, enterprise=world.firm)
    flagged = make_use(grant, far, share_fen=700_000)  # type: ignore[operator]
    flagged.split_flag, flagged.split_reason = True, "30天内同一项目合计超过单笔上限"
    make_use(grant, near, share_fen=200_000)  # type: ignore[operator]
    make_use(grant, far, share_fen=100_000, status=UseStatus.LOCKED)  # type: ignore[operator]
    # another region's programme paying a provider of this region
    other_authority = factories.make_org(kind=OrgKind.AUTHORITY)
    other_grant = factories.make_grant(factories.programme(other_authority))
    foreign = make_use(other_grant, near, share_fen=300_000)  # type: ignore[operator]
    foreign.split_flag = True
    db.session.commit()

    flags = db.session.scalars(svc.split_flags(world.authority.id)).all()
    assert [u.id for u in flags] == [flagged.id]
    names = svc.item_names(flags, "zh_Hans")
    assert names[flagged.item_key].startswith("YQ")

    matrix = svc.region_flows(world.authority.region_id)
    home, away, other = world.authority.region_id, far.region_id, other_authority.region_id
    assert matrix.cells == {(home, away): 700_000, (home, home): 200_000, (other, home): 300_000}
    assert matrix.total == 1_200_000
    assert matrix.row_total(home) == 900_000 and matrix.column_total(home) == 500_000
    assert {r.id for r in matrix.regions} == {home, away, other}


def test_pending_application_badge(world: World, factories: Factories, tmp_path: Path) -> None:
    submitted(world, tmp_path)
    factories.make_grant(world.programme)
    assert svc.pending_application_count(world.officer) == 1
    assert svc.pending_application_count(world.firm_user) == 0
    other = factories.make_user(kind=OrgKind.AUTHORITY)
    assert svc.pending_application_count(other) == 0


# --- concurrency ---------------------------------------------------------------------------------

CLIENTS = 32


def test_racing_approvals_never_exceed_the_budget(
    postgres: None, app: Flask, world: World, factories: Factories
) -> None:
    """32 officers' approvals of 32 different grants at once, budget for 5."""
    k = 5
    programme = factories.programme(world.authority, budget_fen=k * 1_000_000)
    grant_ids = [
        factories.make_grant(programme, amount_fen=1_000_000, status="submitted").id
        for _ in range(CLIENTS)
    ]
    db.session.commit()
    officer_id, programme_id = world.officer.id, programme.id
    barrier = threading.Barrier(CLIENTS)
    won: list[int] = []
    lost: list[DomainError] = []
    crashed: list[BaseException] = []

    def client(grant_id: int) -> None:
        with app.app_context():
            officer = db.session.get(User, officer_id)
            assert officer is not None
            barrier.wait(timeout=30)
            try:
                svc.approve_grant(officer, grant_id, NOW + timedelta(seconds=1))
                db.session.commit()
                won.append(grant_id)
            except DomainError as refusal:
                db.session.rollback()
                lost.append(refusal)
            except BaseException as error:  # surfaced below: a race must never crash
                db.session.rollback()
                crashed.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=client, args=(gid,)) for gid in grant_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    db.session.rollback()
    assert not crashed, crashed
    assert len(won) == k
    assert len(lost) == CLIENTS - k
    assert all(isinstance(e, ledger.InsufficientFunds) for e in lost)
    refreshed = db.session.get(Programme, programme_id)
    assert refreshed is not None
    assert refreshed.granted_fen == k * 1_000_000 <= refreshed.budget_fen
    approved = db.session.scalars(
        select(Grant.id).where(Grant.programme_id == programme_id, Grant.status == "approved")
    ).all()
    assert sorted(approved) == sorted(won)
    assert ledger.mismatches() == []


def test_racing_decisions_on_one_grant_have_one_winner(
    postgres: None, app: Flask, world: World, factories: Factories
) -> None:
    grant_id = factories.make_grant(world.programme, status="submitted").id
    db.session.commit()
    officer_id = world.officer.id
    barrier = threading.Barrier(8)
    results: list[str] = []

    def client(n: int, moment: datetime) -> None:
        with app.app_context():
            officer = db.session.get(User, officer_id)
            assert officer is not None
            barrier.wait(timeout=30)
            try:
                if n % 2:
                    svc.approve_grant(officer, grant_id, moment)
                else:
                    svc.reject_grant(officer, grant_id, "不符合条件", moment)
                db.session.commit()
                results.append("won")
            except InvalidTransition:
                db.session.rollback()
                results.append("lost")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=client, args=(n, NOW)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    db.session.rollback()
    assert sorted(results) == ["lost"] * 7 + ["won"]
    entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.grant_id == grant_id)).all()
    assert len(entries) <= 1
    assert ledger.mismatches() == []
