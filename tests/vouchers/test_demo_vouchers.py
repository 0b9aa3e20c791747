"""The demo's innovation vouchers (vouchers.demo, loaded by `seed-demo`):
a programme per authority, grants in every state, voucher uses that follow
the demo bookings, claims with their evidence, settled batches; balances
backed by the ledger, transitions by the audit trail; a re-run adds nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from booking import demo
from booking.accounts.models import Organization, OrgKind, User
from booking.audit.models import AuditEvent
from booking.extensions import db, utcnow
from booking.notifications.models import Notification
from booking.orders.models import Booking
from instruments.models import Instrument
from vouchers import claims as claim_services
from vouchers import demo as voucher_demo
from vouchers import ledger, settlement, spending
from vouchers import programmes as programme_services
from vouchers.models import (
    BatchStatus,
    Claim,
    ClaimEvidence,
    ClaimStatus,
    EntryKind,
    Grant,
    GrantStatus,
    GroupSpend,
    LedgerEntry,
    Programme,
    RecognisedProvider,
    RedemptionMode,
    SettlementBatch,
    SettlementCycle,
    StatementLine,
    UseStatus,
    VoucherUse,
)

YUAN = 100
# What a second run must leave exactly as it is.
COUNTED = (
    Programme,
    Grant,
    VoucherUse,
    LedgerEntry,
    Claim,
    ClaimEvidence,
    SettlementBatch,
    StatementLine,
    AuditEvent,
    Notification,
    User,
)


def _count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def _users() -> dict[str, User]:
    return {u.email: u for u in db.session.scalars(select(User))}


def _files(root: Path) -> int:
    return sum(1 for p in root.rglob("*.pdf")) if root.exists() else 0


def test_demo_vouchers_follow_the_rules_and_the_ledger(app: Flask) -> None:
    summary = demo.seed()
    db.session.commit()
    now = utcnow()
    users = _users()
    authority = {r: users[f"authority.{r}@demo.yrd"] for r in ("jiading", "suzhou", "wenzhou")}

    # One programme per authority, recognising every verified provider.
    programmes = {p.authority_id: p for p in db.session.scalars(select(Programme))}
    assert len(programmes) == 3
    jiading = programmes[authority["jiading"].organization_id]
    suzhou = programmes[authority["suzhou"].organization_id]
    wenzhou = programmes[authority["wenzhou"].organization_id]
    assert (jiading.mode, jiading.subsidy_percent, jiading.settlement_cycle) == (
        RedemptionMode.PROVIDER_REDEEMS,
        50,
        SettlementCycle.MONTHLY,
    )
    assert (jiading.enterprise_cap_fen, jiading.order_cap_fen, jiading.group_cap_fen) == (
        500_000 * YUAN,
        20_000 * YUAN,
        650_000 * YUAN,
    )
    assert (suzhou.subsidy_percent, suzhou.settlement_cycle) == (40, SettlementCycle.QUARTERLY)
    assert (wenzhou.mode, wenzhou.subsidy_percent) == (RedemptionMode.FIRM_REIMBURSED, 60)
    providers = _count(Organization, Organization.kind == OrgKind.PROVIDER)
    for programme in programmes.values():
        assert programme.budget_fen >= 1_000_000 * YUAN
        assert programme.fiscal_year == programme.valid_until.year
        assert programme.claim_deadline.year == programme.fiscal_year + 1
        assert _count(RecognisedProvider, RecognisedProvider.programme_id == programme.id) == (
            providers
        )

    # Grants: the demo firms approved, others approved, Jiading's queue, a
    # suspension and a rejection.
    grants = list(db.session.scalars(select(Grant)))
    firm = users["enterprise@demo.yrd"].organization_id
    firm_grant = next(g for g in grants if g.enterprise_id == firm)
    assert (firm_grant.programme_id, firm_grant.status, firm_grant.approved_fen) == (
        jiading.id,
        GrantStatus.APPROVED,
        100_000 * YUAN,
    )
    suzhou_firm = users["enterprise.suzhou@demo.yrd"].organization_id
    assert any(
        g.enterprise_id == suzhou_firm
        and g.programme_id == suzhou.id
        and g.status == GrantStatus.APPROVED
        for g in grants
    )
    statuses = Counter(g.status for g in grants)
    assert statuses[GrantStatus.APPROVED] >= 12
    assert statuses[GrantStatus.SUSPENDED] == 1 and statuses[GrantStatus.REJECTED] == 1
    assert 3 <= programme_services.pending_application_count(authority["jiading"]) <= 4
    assert all(g.idempotency_key and g.idempotency_key.startswith("demo-g-") for g in grants)
    for programme in programmes.values():
        issued = sum(
            g.approved_fen or 0
            for g in grants
            if g.programme_id == programme.id and g.status in programme_services.ISSUED_STATUSES
        )
        assert programme.granted_fen == issued

    # Every balance has its entries behind it.
    assert ledger.mismatches() == []
    issues = Counter(
        e.grant_id for e in db.session.scalars(select(LedgerEntry)) if e.kind == "issue"
    )
    assert all(issues[g.id] == 1 for g in grants if g.approved_fen)

    # Uses follow their bookings; shares follow the programme rules.
    uses = list(db.session.scalars(select(VoucherUse)))
    assert len(uses) >= 100
    bookings = {
        b.id: b
        for b in db.session.scalars(
            select(Booking).where(Booking.id.in_([u.booking_id for u in uses]))
        )
    }
    expected = {
        "closed": {UseStatus.USED, UseStatus.RELEASED},
        "completed": {UseStatus.LOCKED},
        "confirmed": {UseStatus.LOCKED},
        "in_use": {UseStatus.LOCKED},
        "requested": {UseStatus.HELD},
        "cancelled": {UseStatus.RELEASED},
        "no_show": {UseStatus.RELEASED},
        "rejected": {UseStatus.RELEASED},
        "expired": {UseStatus.RELEASED},
    }
    for use in uses:
        booking = bookings[use.booking_id]  # type: ignore[index]
        assert use.status in expected[booking.status], (booking.status, use.status)
        percent = use.rules["subsidy_percent"]
        wanted = spending.subsidised(booking.quote_fen, percent)
        assert use.share_fen == min(wanted, use.rules["order_cap_fen"])
        if use.status == UseStatus.USED:
            assert booking.charge_fen is not None
            assert use.used_fen == min(
                use.share_fen, spending.subsidised(booking.charge_fen, percent)
            )
        assert use.created_at == booking.created_at
    statuses = Counter(u.status for u in uses)
    assert statuses[UseStatus.USED] >= 80
    assert min(statuses[s] for s in (UseStatus.HELD, UseStatus.LOCKED, UseStatus.RELEASED)) > 0
    upcoming = Counter(u.status for u in uses if bookings[u.booking_id].starts_at > now)  # type: ignore[index]
    assert upcoming[UseStatus.HELD] > 0 and upcoming[UseStatus.LOCKED] > 0

    # Controller groups count what their firms hold, lock and use.
    committed: Counter[tuple[int, str]] = Counter()
    for use in uses:
        if use.controller_key and use.rules["group_cap_fen"] is not None:
            if use.status in (UseStatus.HELD, UseStatus.LOCKED):
                committed[(use.programme_id, use.controller_key)] += use.share_fen
            elif use.status == UseStatus.USED:
                committed[(use.programme_id, use.controller_key)] += use.used_fen or 0
    groups = {(g.programme_id, g.controller_key): g for g in db.session.scalars(select(GroupSpend))}
    assert {k: g.committed_fen for k, g in groups.items() if g.committed_fen} == {
        k: v for k, v in committed.items() if v
    }
    assert all(g.committed_fen <= g.cap_fen for g in groups.values())

    # Every transition is on the audit trail, in order, ending in the state.
    trails: dict[int, list[AuditEvent]] = {}
    for event in db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "voucher_use")
        .order_by(AuditEvent.at, AuditEvent.id)
    ):
        trails.setdefault(event.object_id, []).append(event)
    for use in uses:
        trail = trails[use.id]
        assert trail[0].action == "voucher_use.hold" and trail[0].from_state is None
        assert trail[-1].to_state == use.status
        assert all(a.to_state == b.from_state for a, b in pairwise(trail))

    # The demo firm's wallet shows its money moving.
    kinds = Counter(m.entry.kind for m in programme_services.movements(firm_grant.id))
    assert kinds[EntryKind.ISSUE] == 1 and kinds[EntryKind.LOCK] > 10 and kinds[EntryKind.USE] > 10

    # Claims keep the claim rules, with their evidence on disk.
    claims = list(db.session.scalars(select(Claim)))
    assert len(claims) >= 50
    by_use = {u.id: u for u in uses}
    root = Path(app.config["UPLOAD_DIR"])
    for claim in claims:
        use = by_use[claim.voucher_use_id]
        booking = bookings[use.booking_id]  # type: ignore[index]
        assert use.status == UseStatus.USED and claim.amount_fen == use.used_fen
        assert claim.payee_id == claim_services.payee_id_of(use)
        assert claim.invoice_amount_fen == booking.charge_fen
        assert claim.payee_account_name == claim.payee.name_zh
        assert claim.invoice_number.startswith("DEMO-")
        assert claim.idempotency_key and claim.idempotency_key.startswith("demo-c-")
        assert use.used_at is not None and claim.submitted_at > use.used_at
        assert claim.authority_id == use.programme.authority_id
        assert not claim_services.related(use.enterprise_id, use.provider_id)
        assert {e.kind for e in claim.evidence} == {"contract", "invoice", "payment_proof"}
    assert len({c.invoice_number for c in claims}) == len(claims)
    for evidence in db.session.scalars(select(ClaimEvidence)).all()[::20]:
        data = (root / evidence.path).read_bytes()
        assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    claim_status = Counter((c.authority_id, c.status) for c in claims)
    jd = authority["jiading"].organization_id
    assert claim_services.pending_claim_count(authority["jiading"]) > 0
    assert claim_status[(jd, ClaimStatus.RETURNED)] == 1
    assert claim_status[(jd, ClaimStatus.PAID)] > 0
    assert claim_status[(authority["wenzhou"].organization_id, ClaimStatus.PAID)] > 0
    assert any(c.payee_id == c.use.enterprise_id for c in claims if c.programme_id == wenzhou.id)

    # Settlement: a batch per closed period, the last one awaiting payment.
    batches = list(db.session.scalars(select(SettlementBatch)))
    last_month = settlement.last_closed(now, SettlementCycle.MONTHLY).label
    latest = [b for b in batches if b.authority_id == jd and b.period == last_month]
    assert len(latest) == 1
    assert latest[0].status == BatchStatus.CLOSED and latest[0].claim_count > 0
    paid = [b for b in batches if b.status == BatchStatus.PAID]
    assert paid and all(b.payment_reference and b.paid_at for b in paid)
    for batch in batches:
        in_batch = [c for c in claims if c.batch_id == batch.id]
        assert batch.claim_count == len(in_batch)
        assert batch.total_fen == sum(c.amount_fen for c in in_batch)
        assert all(c.approved_at and c.approved_at < batch.created_at for c in in_batch)
        start, end = settlement.parse_period(batch.period).starts_at, batch.created_at
        assert all(c.approved_at and start <= c.approved_at < end for c in in_batch)
        lines = _count(StatementLine, StatementLine.batch_id == batch.id)
        assert lines == len({c.payee_id for c in in_batch})

    # provider@demo.yrd has claims on two authorities and statements.
    provider = users["provider@demo.yrd"].organization_id
    assert {c.authority_id for c in claims if c.payee_id == provider} >= {
        jd,
        authority["suzhou"].organization_id,
    }
    assert settlement.payee_statements(provider)

    assert "voucher uses" in summary.describe()
    assert summary.created["voucher claims"] == len(claims)

    # A second run creates nothing and changes nothing.
    before = [_count(m) for m in COUNTED]
    balances = ledger.ledger_balances()
    files = _files(root)
    again = demo.seed()
    db.session.commit()
    assert again.created_total == 0
    assert [_count(m) for m in COUNTED] == before
    assert ledger.ledger_balances() == balances
    assert _files(root) == files
    assert ledger.mismatches() == []


def test_demo_sign_ins_see_their_voucher_pages(
    login_as: Callable[[User], FlaskClient],
) -> None:
    demo.seed()
    db.session.commit()
    users = _users()

    client = login_as(users["authority.jiading@demo.yrd"])
    assert client.get("/authority/vouchers/applications?status=submitted").status_code == 200
    assert client.get("/authority/settlement/claims?status=submitted").status_code == 200
    batch = db.session.scalars(
        select(SettlementBatch).where(
            SettlementBatch.authority_id == users["authority.jiading@demo.yrd"].organization_id
        )
    ).first()
    assert batch is not None
    assert client.get(f"/authority/settlement/batches/{batch.id}").status_code == 200

    client = login_as(users["provider@demo.yrd"])
    assert client.get("/claims/").status_code == 200
    assert client.get("/claims/statements").status_code == 200
    claim = db.session.scalars(
        select(Claim).where(Claim.payee_id == users["provider@demo.yrd"].organization_id)
    ).first()
    assert claim is not None
    with client.get(f"/claims/{claim.id}/evidence/invoice") as download:
        assert download.status_code == 200
        assert download.data.startswith(b"%PDF-")

    client = login_as(users["enterprise@demo.yrd"])
    assert client.get("/my/vouchers/").status_code == 200
    grant = db.session.scalars(
        select(Grant).where(Grant.enterprise_id == users["enterprise@demo.yrd"].organization_id)
    ).one()
    assert client.get(f"/my/vouchers/grants/{grant.id}").status_code == 200

    assert voucher_demo.PROGRAMMES[0].region == "jiading"


def test_a_bigger_scale_later_keeps_the_new_instruments() -> None:
    """booking.demo writes instruments by Core INSERTs; the voucher services
    that run after them must not take the transaction for a read-only one
    and restart it (SQLite), dropping them."""
    demo.seed(scale=40)
    db.session.commit()
    grown = demo.seed(scale=60)
    db.session.commit()

    assert grown.created["instruments"] == 20
    assert _count(Instrument) == 60
    assert _count(Programme) == 3
    assert ledger.mismatches() == []
