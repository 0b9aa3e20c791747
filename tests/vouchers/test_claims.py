"""Claim rules (vouchers.claims): who may claim what, when, with which
evidence; the authority's decisions; nothing written on refusal."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from booking.accounts.models import OrgKind, RelatedParty
from booking.audit.models import AuditEvent
from booking.errors import DomainError, InvalidTransition, NotFound
from booking.extensions import db
from booking.notifications.models import Notification
from tests.vouchers.test_claims_support import (
    CLAIM_NOW,
    World,
    approved,
    build_world,
    details,
    file,
    service_order_use,
    uploads,
)
from vouchers import claims, ledger, settlement
from vouchers.models import (
    Claim,
    ClaimEvidence,
    ClaimStatus,
    EntryKind,
    LedgerEntry,
    RedemptionMode,
    UseStatus,
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


def _counts() -> tuple[int, int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Claim)) or 0,
        db.session.scalar(select(func.count()).select_from(ClaimEvidence)) or 0,
        db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.object_type == "voucher_claim")
        )
        or 0,
    )


def _stored(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.pdf")] if root.exists() else []


def _refused(world: World, root: Path, error: type[Exception], match: str, **kw: Any) -> None:
    use = kw.pop("use", None) or world.used()
    before = _counts()
    with pytest.raises(error, match=match):
        file(world, use, root, **kw)
    # Checked in the same transaction: the refusal came before any write.
    db.session.flush()
    assert _counts() == before
    assert _stored(root) == []


# --- filing -----------------------------------------------------------------------------


def test_provider_files_a_claim_with_its_evidence(world: World, root: Path) -> None:
    use = world.used()
    claim = file(world, use, root)

    assert claim.status == ClaimStatus.SUBMITTED
    assert (claim.payee_id, claim.authority_id) == (world.provider.id, world.authority.id)
    assert claim.issuing_region_id == world.authority.region_id
    assert claim.provider_region_id == world.provider.region_id
    assert claim.amount_fen == 1_000_000 and claim.invoice_amount_fen == 2_000_000
    assert {e.kind for e in claim.evidence} == {"contract", "invoice", "payment_proof"}
    for evidence in claim.evidence:
        assert (root / evidence.path).read_bytes().startswith(b"%PDF-")
    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_type == "voucher_claim")
    ).all()
    assert [(e.action, e.to_state) for e in events] == [("claim.submit", "submitted")]
    notes = db.session.scalars(select(Notification)).all()
    assert {n.user_id for n in notes if n.kind == "voucher_claim.submitted"} == {
        world.authority_user.id
    }


def test_firm_is_the_payee_under_firm_reimbursed(world: World, root: Path) -> None:
    use = world.used()
    use.rules = {**use.rules, "mode": RedemptionMode.FIRM_REIMBURSED}
    db.session.flush()
    assert claims.payee_id_of(use) == world.enterprise.id
    with pytest.raises(NotFound):
        claims.file_claim(
            use.id, world.provider_user, details(world.provider), uploads(), root, CLAIM_NOW
        )
    claim = claims.file_claim(
        use.id, world.enterprise_user, details(world.enterprise), uploads(), root, CLAIM_NOW
    )
    assert claim.payee_id == world.enterprise.id
    # The snapshot wins over a programme changed later.
    world.programme.mode = RedemptionMode.PROVIDER_REDEEMS
    assert claims.payee_id_of(use) == world.enterprise.id


def test_programme_mode_decides_without_a_snapshot(world: World) -> None:
    use = world.used()
    use.rules = {"subsidy_percent": 50}
    world.programme.mode = RedemptionMode.FIRM_REIMBURSED
    db.session.flush()
    assert claims.payee_id_of(use) == world.enterprise.id
    ids = [u.id for u in db.session.scalars(claims.claimable_uses(world.enterprise.id, CLAIM_NOW))]
    assert ids == [use.id]
    assert list(db.session.scalars(claims.claimable_uses(world.provider.id, CLAIM_NOW))) == []


def test_not_yet_confirmed_is_refused(world: World, root: Path) -> None:
    _refused(world, root, InvalidTransition, "尚未确认", use=world.used(status=UseStatus.LOCKED))


def test_after_the_deadline_is_refused(world: World, root: Path) -> None:
    use = world.used()
    # Deadline 2027-03-31: the last Shanghai day is still fine, the next is not.
    last_day = claims.local(CLAIM_NOW).replace(year=2027, month=3, day=31, hour=23, minute=59)
    assert file(world, use, root, now=last_day.astimezone(CLAIM_NOW.tzinfo)).id
    later = world.used()
    stored = _stored(root)
    with pytest.raises(DomainError, match="截止日期"):
        file(world, later, root, now=last_day + timedelta(minutes=2))
    assert _counts()[0] == 1 and _stored(root) == stored


def test_second_claim_for_one_use_is_refused(world: World, root: Path) -> None:
    use = world.used()
    file(world, use, root)
    with pytest.raises(InvalidTransition, match="已提交过"):
        file(world, use, root)


@pytest.mark.parametrize("missing", ["contract", "invoice", "payment_proof"])
def test_missing_evidence_is_refused(world: World, root: Path, missing: str) -> None:
    given = [k for k in ("contract", "invoice", "payment_proof") if k != missing]
    use = world.used()
    with pytest.raises(DomainError) as refused:
        file(world, use, root, uploads=uploads(*given))
    assert refused.value.field == missing
    db.session.flush()
    assert _counts() == (0, 0, 0) and _stored(root) == []


def test_a_file_that_is_not_a_pdf_is_refused(world: World, root: Path) -> None:
    import io

    bad = uploads()
    bad["invoice"] = claims.Upload(io.BytesIO(b"GIF89a"), "invoice.pdf")
    use = world.used()
    with pytest.raises(DomainError, match="PDF"):
        file(world, use, root, uploads=bad)
    assert _stored(root) == []


def test_declared_related_party_is_refused(world: World, root: Path) -> None:
    db.session.add(
        RelatedParty(
            enterprise_id=world.enterprise.id, provider_id=world.provider.id, relation="shareholder"
        )
    )
    db.session.flush()
    _refused(world, root, DomainError, "关联关系")


def test_same_controller_is_refused(world: World, root: Path) -> None:
    world.enterprise.controller_name = "张三"
    world.provider.controller_name = " 张三 "
    db.session.flush()
    _refused(world, root, DomainError, "关联关系")


def test_someone_other_than_the_payee_is_refused(world: World, root: Path) -> None:
    use = world.used()
    other_provider_user = world.make_user(kind=OrgKind.PROVIDER)
    for user in (world.enterprise_user, other_provider_user, world.authority_user):
        with pytest.raises(NotFound):
            claims.file_claim(use.id, user, details(user.organization), uploads(), root, CLAIM_NOW)
    assert _counts() == (0, 0, 0)


def test_one_invoice_one_claim(world: World, root: Path) -> None:
    file(world, world.used(), root, details=details(world.provider, invoice="FP-1"))
    with pytest.raises(DomainError, match="FP-1") as refused:
        file(world, world.used(), root, details=details(world.provider, invoice="FP-1"))
    assert refused.value.field == "invoice_number"


def test_invoice_amount_must_equal_the_contract_amount(world: World, root: Path) -> None:
    with pytest.raises(DomainError, match="合同金额") as refused:
        file(world, world.used(), root, details=details(world.provider, amount_fen=1_999_999))
    assert refused.value.field == "invoice_amount"


def test_account_must_be_in_the_payees_own_name(world: World, root: Path) -> None:
    wrong = details(world.provider)
    wrong = claims.ClaimDetails(
        wrong.invoice_number, wrong.invoice_amount_fen, "某个人", "银行", "1"
    )
    with pytest.raises(DomainError, match="收款单位本身") as refused:
        file(world, world.used(), root, details=wrong)
    assert refused.value.field == "payee_account_name"


def test_booking_without_usage_on_record_is_refused(world: World, root: Path) -> None:
    use = world.used()
    booking = db.session.get(claims.Booking, use.booking_id)
    assert booking is not None
    booking.checked_out_at = None
    db.session.flush()
    with pytest.raises(DomainError, match="上机"):
        file(world, use, root)


def test_service_order_needs_its_report(world: World, root: Path, make_service_item: Any) -> None:
    without = service_order_use(world, make_service_item, report=False)
    with pytest.raises(DomainError, match="检测报告"):
        file(world, without, root)
    with_report = service_order_use(world, make_service_item, report=True)
    claim = file(world, with_report, root)
    record = claims.usage_record(claim.use)
    assert record.kind == "service_order" and record.has_report and record.samples == 4


def test_retry_with_the_same_key_returns_the_same_claim(world: World, root: Path) -> None:
    use = world.used()
    first = file(world, use, root, idempotency_key="k-1")
    again = file(world, use, root, idempotency_key="k-1")
    assert again.id == first.id and _counts()[0] == 1


# --- the authority's decisions ---------------------------------------------------------


def test_approve_then_approving_again_is_an_invalid_transition(world: World, root: Path) -> None:
    claim = file(world, world.used(), root)
    claims.approve_claim(claim.id, world.authority_user, CLAIM_NOW)
    assert claim.status == ClaimStatus.APPROVED and claim.approved_at == CLAIM_NOW
    with pytest.raises(InvalidTransition):
        claims.approve_claim(claim.id, world.authority_user, CLAIM_NOW)
    kinds = [
        n.kind
        for n in db.session.scalars(
            select(Notification).where(Notification.user_id == world.provider_user.id)
        )
    ]
    assert kinds == ["voucher_claim.approved"]


def test_another_authority_gets_not_found(world: World, root: Path) -> None:
    claim = file(world, world.used(), root)
    stranger = world.make_user(kind=OrgKind.AUTHORITY)
    for act in (
        lambda: claims.approve_claim(claim.id, stranger, CLAIM_NOW),
        lambda: claims.return_claim(claim.id, stranger, "x", CLAIM_NOW),
        lambda: claims.void_claim(claim.id, stranger, "x", CLAIM_NOW),
    ):
        with pytest.raises(NotFound):
            act()
    assert claim.status == ClaimStatus.SUBMITTED


def test_return_needs_a_reason_and_the_payee_resubmits_the_same_row(
    world: World, root: Path
) -> None:
    claim = file(world, world.used(), root)
    with pytest.raises(DomainError, match="理由"):
        claims.return_claim(claim.id, world.authority_user, "  ", CLAIM_NOW)
    claims.return_claim(claim.id, world.authority_user, "发票抬头有误", CLAIM_NOW)
    assert (claim.status, claim.review_reason) == (ClaimStatus.RETURNED, "发票抬头有误")
    old_contract = claims.evidence_of(claim, "contract")
    assert old_contract is not None
    old_path = old_contract.path

    later = CLAIM_NOW + timedelta(days=1)
    fixed = claims.resubmit_claim(
        claim.id,
        world.provider_user,
        details(world.provider, invoice="FP-NEW"),
        uploads("contract"),
        root,
        later,
    )
    assert fixed.id == claim.id and fixed.status == ClaimStatus.SUBMITTED
    assert fixed.invoice_number == "FP-NEW" and fixed.submitted_at == later
    contract = claims.evidence_of(fixed, "contract")
    assert contract is not None and contract.path != old_path
    assert len(fixed.evidence) == 3
    events = db.session.scalars(
        select(AuditEvent.action)
        .where(AuditEvent.object_id == claim.id, AuditEvent.object_type == "voucher_claim")
        .order_by(AuditEvent.id)
    ).all()
    assert list(events) == ["claim.submit", "claim.return", "claim.resubmit"]
    with pytest.raises(InvalidTransition):
        claims.resubmit_claim(
            claim.id, world.provider_user, details(world.provider), {}, root, later
        )


def test_resubmit_rechecks_related_parties(world: World, root: Path) -> None:
    claim = file(world, world.used(), root)
    claims.return_claim(claim.id, world.authority_user, "补充材料", CLAIM_NOW)
    world.enterprise.controller_name = world.provider.controller_name = "李四"
    db.session.flush()
    with pytest.raises(DomainError, match="关联关系"):
        claims.resubmit_claim(
            claim.id, world.provider_user, details(world.provider), {}, root, CLAIM_NOW
        )


def test_other_payee_cannot_resubmit(world: World, root: Path) -> None:
    claim = file(world, world.used(), root)
    claims.return_claim(claim.id, world.authority_user, "补充材料", CLAIM_NOW)
    other = world.make_user(kind=OrgKind.PROVIDER)
    with pytest.raises(NotFound):
        claims.resubmit_claim(claim.id, other, details(other.organization), {}, root, CLAIM_NOW)


def test_void_before_payment_voids_the_use(world: World, root: Path) -> None:
    use = world.used()
    claim = file(world, use, root)
    with pytest.raises(DomainError, match="理由"):
        claims.void_claim(claim.id, world.authority_user, "", CLAIM_NOW)
    claims.void_claim(claim.id, world.authority_user, "伪造发票", CLAIM_NOW)
    db.session.refresh(world.grant)
    assert claim.status == ClaimStatus.VOIDED and use.status == UseStatus.VOIDED
    assert (world.grant.used_fen, world.grant.voided_fen) == (0, 1_000_000)
    entry = db.session.scalar(select(LedgerEntry).where(LedgerEntry.kind == EntryKind.VOID))
    assert entry is not None and (entry.from_bucket, entry.to_bucket) == ("used", "voided")
    assert ledger.mismatches() == []
    with pytest.raises(InvalidTransition):
        claims.void_claim(claim.id, world.authority_user, "again", CLAIM_NOW)


def test_void_is_refused_once_in_a_batch_and_clawback_after_payment(
    world: World, root: Path
) -> None:
    use = world.used()
    claim = approved(world, use, root, CLAIM_NOW)
    settlement.settle(
        "2026-12",
        claims.local(CLAIM_NOW).replace(year=2027, month=1, day=2).astimezone(CLAIM_NOW.tzinfo),
    )
    with pytest.raises(InvalidTransition, match="结算批次"):
        claims.void_claim(claim.id, world.authority_user, "伪造", CLAIM_NOW)
    with pytest.raises(InvalidTransition, match="已付款"):
        claims.claw_back_claim(claim.id, world.authority_user, "伪造", CLAIM_NOW)
    assert claim.batch_id is not None
    settlement.record_payment(
        claim.batch_id, world.authority_user, "PAY-1", CLAIM_NOW + timedelta(days=40)
    )
    db.session.refresh(claim)
    assert claim.status == ClaimStatus.PAID
    claims.claw_back_claim(
        claim.id, world.authority_user, "事后发现虚假", CLAIM_NOW + timedelta(days=50)
    )
    db.session.refresh(world.grant)
    assert claim.status == ClaimStatus.CLAWED_BACK and use.status == UseStatus.VOIDED
    assert world.grant.voided_fen == 1_000_000 and ledger.mismatches() == []
    assert db.session.scalar(select(LedgerEntry.kind).where(LedgerEntry.kind == EntryKind.CLAWBACK))


def test_claimable_list_leaves_out_claimed_late_and_unconfirmed(world: World, root: Path) -> None:
    fresh = world.used()
    claimed = world.used()
    file(world, claimed, root)
    world.used(status=UseStatus.LOCKED)
    late = world.used()
    late.claim_deadline = date(2026, 12, 1)
    db.session.flush()
    ids = [u.id for u in db.session.scalars(claims.claimable_uses(world.provider.id, CLAIM_NOW))]
    assert ids == [fresh.id]


def test_pending_badge_counts_submitted_claims_of_the_authority(world: World, root: Path) -> None:
    file(world, world.used(), root)
    assert claims.pending_claim_count(world.authority_user) == 1
    assert claims.pending_claim_count(world.make_user(kind=OrgKind.AUTHORITY)) == 0
    assert claims.pending_claim_count(world.provider_user) == 0
