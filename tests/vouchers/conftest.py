"""A voucher world: an authority with a programme, approved grants, and
voucher uses in any state, built through the ledger primitives so every
balance has its entries behind it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from itertools import count
from typing import Any

import pytest

from booking.accounts.models import Organization, OrgKind
from booking.extensions import db
from vouchers import ledger
from vouchers.models import (
    Bucket,
    EntryKind,
    Grant,
    GrantStatus,
    Programme,
    RecognisedProvider,
    RedemptionMode,
    SettlementCycle,
    UseStatus,
    VoucherUse,
)

# Tuesday 2026-12-01 08:00 in Shanghai (the same moment the order tests use).
VOUCHER_NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
_serial = count(1)


@pytest.fixture
def make_programme(make_org: Callable[..., Organization]) -> Callable[..., Programme]:
    """A programme open all of 2026 with a claim deadline in spring 2027:
    50 % subsidy, ¥1,000,000 budget, ¥100,000 per firm, ¥20,000 per order."""

    def make(
        authority: Organization | None = None,
        providers: list[Organization] | None = None,
        **overrides: Any,
    ) -> Programme:
        n = next(_serial)
        authority = authority or make_org(kind=OrgKind.AUTHORITY)
        fields: dict[str, Any] = {
            "code": f"CXQ{n:04d}",
            "name_zh": f"2026年度科技创新券{n}",
            "name_en": f"2026 innovation vouchers {n}",
            "fiscal_year": 2026,
            "budget_fen": 100_000_000,
            "subsidy_percent": 50,
            "enterprise_cap_fen": 10_000_000,
            "order_cap_fen": 2_000_000,
            "group_cap_fen": None,
            "mode": RedemptionMode.PROVIDER_REDEEMS,
            "eligible_categories": [],
            "eligible_kinds": ["instrument_time", "testing_service"],
            "applications_open_on": date(2026, 1, 1),
            "applications_close_on": date(2026, 12, 31),
            "valid_until": date(2026, 12, 31),
            "claim_deadline": date(2027, 3, 31),
            "settlement_cycle": SettlementCycle.MONTHLY,
        }
        fields.update(overrides)
        programme = Programme(authority_id=authority.id, **fields)
        for provider in providers or []:
            programme.recognised.append(RecognisedProvider(provider_id=provider.id))
        db.session.add(programme)
        db.session.flush()
        return programme

    return make


@pytest.fixture
def make_grant(make_org: Callable[..., Organization]) -> Callable[..., Grant]:
    """An approved grant of `amount_fen` (issued through the ledger and drawn
    from the programme budget); status="submitted" leaves it undecided."""

    def make(
        programme: Programme,
        enterprise: Organization | None = None,
        amount_fen: int = 5_000_000,
        status: str = GrantStatus.APPROVED,
        **overrides: Any,
    ) -> Grant:
        enterprise = enterprise or make_org(kind=OrgKind.ENTERPRISE)
        grant = Grant(
            programme_id=programme.id,
            enterprise_id=enterprise.id,
            requested_fen=amount_fen,
            status=GrantStatus.SUBMITTED,
            submitted_at=VOUCHER_NOW,
            **overrides,
        )
        db.session.add(grant)
        db.session.flush()
        if status != GrantStatus.SUBMITTED:
            ledger.draw_budget(programme.id, amount_fen)
            ledger.issue(grant.id, amount_fen, VOUCHER_NOW)
            grant.status = GrantStatus.APPROVED
            grant.decided_at = VOUCHER_NOW
            db.session.flush()
            if status != GrantStatus.APPROVED:
                grant.status = status
                db.session.flush()
        db.session.refresh(grant)
        return grant

    return make


@pytest.fixture
def make_use(make_booking_for_voucher: Callable[..., Any]) -> Callable[..., VoucherUse]:
    """A voucher use on a fresh booking, driven through the ledger to
    `status` (held, locked, used, released)."""

    def make(
        grant: Grant,
        provider: Organization,
        share_fen: int = 1_000_000,
        price_fen: int = 2_000_000,
        status: str = UseStatus.USED,
    ) -> VoucherUse:
        booking = make_booking_for_voucher(grant.enterprise_id, provider, price_fen)
        programme = db.session.get(Programme, grant.programme_id)
        assert programme is not None
        use = VoucherUse(
            grant_id=grant.id,
            programme_id=grant.programme_id,
            enterprise_id=grant.enterprise_id,
            provider_id=provider.id,
            booking_id=booking.id,
            service_kind="instrument_time",
            item_key=f"instrument:{booking.instrument_id}",
            status=UseStatus.HELD,
            price_fen=price_fen,
            share_fen=share_fen,
            rules={"subsidy_percent": programme.subsidy_percent, "mode": programme.mode},
            claim_deadline=programme.claim_deadline,
            created_at=VOUCHER_NOW,
        )
        db.session.add(use)
        db.session.flush()
        ledger.hold(grant.id, share_fen)
        if status == UseStatus.HELD:
            return use
        ledger.move(
            grant.id,
            EntryKind.LOCK,
            share_fen,
            Bucket.AVAILABLE,
            Bucket.LOCKED,
            VOUCHER_NOW,
            voucher_use_id=use.id,
            release_hold=True,
        )
        use.status, use.locked_at = UseStatus.LOCKED, VOUCHER_NOW
        if status == UseStatus.USED:
            ledger.move(
                grant.id,
                EntryKind.USE,
                share_fen,
                Bucket.LOCKED,
                Bucket.USED,
                VOUCHER_NOW,
                voucher_use_id=use.id,
            )
            use.status, use.used_fen, use.used_at = UseStatus.USED, share_fen, VOUCHER_NOW
        elif status == UseStatus.RELEASED:
            ledger.move(
                grant.id,
                EntryKind.RELEASE,
                share_fen,
                Bucket.LOCKED,
                Bucket.AVAILABLE,
                VOUCHER_NOW,
                voucher_use_id=use.id,
            )
            use.status, use.ended_at = UseStatus.RELEASED, VOUCHER_NOW
        db.session.flush()
        return use

    return make


@pytest.fixture
def make_booking_for_voucher(
    make_instrument: Callable[..., Any], make_user: Callable[..., Any]
) -> Callable[..., Any]:
    """A closed booking row (written directly: the order engine has its own
    tests) at `provider`'s instrument for `enterprise_id`."""
    from booking.orders.models import Booking, OrderStatus

    def make(enterprise_id: int, provider: Organization, price_fen: int) -> Booking:
        n = next(_serial)
        enterprise = db.session.get(Organization, enterprise_id)
        user = make_user(org=enterprise)
        instrument = make_instrument(provider=provider)
        start = datetime(2026, 11, 2, 1, 0, tzinfo=UTC).replace(hour=n % 10)
        booking = Booking(
            instrument_id=instrument.id,
            enterprise_id=enterprise_id,
            user_id=user.id,
            service_mode="entrusted",
            starts_at=start,
            ends_at=start.replace(hour=start.hour + 1),
            status=OrderStatus.CLOSED,
            price_fen_per_hour=price_fen,
            quote_fen=price_fen,
            charge_fen=price_fen,
            policy={},
            created_at=VOUCHER_NOW,
            updated_at=VOUCHER_NOW,
        )
        db.session.add(booking)
        db.session.flush()
        return booking

    return make
