"""A claims world shared by the claim, settlement and job tests: an issuing
authority in one region, a recognised provider in another, an enterprise
with an approved grant, and helpers that make used voucher uses with their
usage on record. Plain functions: each test module wraps them in its own
fixture (the shared conftest stays untouched)."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from booking.accounts.models import Organization, OrgKind, User
from booking.extensions import db
from booking.orders.models import Booking, OrderStatus, ServiceOrder
from tests.vouchers.conftest import VOUCHER_NOW
from vouchers import claims
from vouchers.models import Claim, Grant, Programme, UseStatus, VoucherUse

PDF = b"%PDF-1.4\n% claim evidence\n"
# Claims are filed a week after the service was confirmed.
CLAIM_NOW = VOUCHER_NOW + timedelta(days=7)
_invoice = iter(range(1, 10**6))


def test_support_module_has_no_tests() -> None:
    """Collected as a test module by its name; the helpers are below."""


@dataclass
class World:
    authority: Organization
    authority_user: User
    provider: Organization
    provider_user: User
    enterprise: Organization
    enterprise_user: User
    programme: Programme
    grant: Grant
    make_use: Callable[..., VoucherUse]
    make_org: Callable[..., Organization]
    make_user: Callable[..., User]
    make_programme: Callable[..., Programme]
    make_grant: Callable[..., Grant]
    extra: dict[str, Any] = field(default_factory=dict)

    def used(
        self,
        grant: Grant | None = None,
        provider: Organization | None = None,
        share_fen: int = 1_000_000,
        price_fen: int = 2_000_000,
        status: str = UseStatus.USED,
    ) -> VoucherUse:
        """A voucher use driven through the ledger, its booking's usage recorded."""
        use = self.make_use(
            grant or self.grant, provider or self.provider, share_fen, price_fen, status
        )
        booking = db.session.get(Booking, use.booking_id)
        assert booking is not None
        booking.checked_in_at = booking.starts_at
        booking.checked_out_at = booking.ends_at
        booking.completed_at = booking.ends_at
        db.session.flush()
        return use

    def payee_user(self, programme: Programme | None = None) -> User:
        return self.provider_user


def build_world(
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
    make_region: Callable[..., Any],
    make_programme: Callable[..., Programme],
    make_grant: Callable[..., Grant],
    make_use: Callable[..., VoucherUse],
    **programme_overrides: Any,
) -> World:
    home, away = make_region(), make_region()
    authority = make_org(kind=OrgKind.AUTHORITY, region=home)
    provider = make_org(kind=OrgKind.PROVIDER, region=away)
    enterprise = make_org(kind=OrgKind.ENTERPRISE, region=home)
    programme = make_programme(authority=authority, providers=[provider], **programme_overrides)
    grant = make_grant(programme, enterprise, amount_fen=10_000_000)
    return World(
        authority=authority,
        authority_user=make_user(org=authority),
        provider=provider,
        provider_user=make_user(org=provider),
        enterprise=enterprise,
        enterprise_user=make_user(org=enterprise),
        programme=programme,
        grant=grant,
        make_use=make_use,
        make_org=make_org,
        make_user=make_user,
        make_programme=make_programme,
        make_grant=make_grant,
    )


def details(
    payee: Organization, amount_fen: int = 2_000_000, invoice: str | None = None
) -> claims.ClaimDetails:
    return claims.ClaimDetails(
        invoice_number=invoice or f"INV{next(_invoice):08d}",
        invoice_amount_fen=amount_fen,
        payee_account_name=payee.name_zh,
        payee_bank="中国银行上海嘉定支行",
        payee_account_no="6216 6000 0000 0000 001",
    )


def uploads(*kinds: str) -> dict[str, claims.Upload | None]:
    kinds = kinds or ("contract", "invoice", "payment_proof")
    return {k: claims.Upload(io.BytesIO(PDF), f"{k}.pdf") for k in kinds}


def file(world: World, use: VoucherUse, root: Any, now: datetime = CLAIM_NOW, **kw: Any) -> Claim:
    payee = db.session.get(Organization, claims.payee_id_of(use))
    assert payee is not None
    user = world.provider_user if payee.id == world.provider.id else None
    if user is None:
        user = (
            world.enterprise_user if payee.id == world.enterprise.id else world.make_user(org=payee)
        )
    return claims.file_claim(
        use.id,
        user,
        kw.pop("details", None) or details(payee),
        kw.pop("uploads", None) or uploads(),
        root,
        now,
        **kw,
    )


def approved(world: World, use: VoucherUse, root: Any, at: datetime) -> Claim:
    claim = file(world, use, root, now=at)
    claims.approve_claim(claim.id, world.authority_user, at)
    return claim


def service_order_use(
    world: World, make_service_item: Callable[..., Any], report: bool
) -> VoucherUse:
    """A used voucher share on a completed service order (re-pointed from a booking)."""
    use = world.used()
    item = make_service_item(provider=world.provider)
    order = ServiceOrder(
        service_item_id=item.id,
        enterprise_id=world.enterprise.id,
        user_id=world.enterprise_user.id,
        quantity=4,
        week_start=date(2026, 11, 2),
        status=OrderStatus.CLOSED,
        unit_price_fen=500_000,
        quote_fen=2_000_000,
        policy={},
        samples_tested=4,
        report_path="1/report.pdf" if report else None,
        report_name="report.pdf" if report else None,
        charge_fen=2_000_000,
        completed_at=VOUCHER_NOW,
        created_at=VOUCHER_NOW,
        updated_at=VOUCHER_NOW,
    )
    db.session.add(order)
    db.session.flush()
    use.booking_id, use.service_order_id = None, order.id
    use.service_kind, use.item_key = "testing_service", f"service:{item.id}"
    db.session.flush()
    return use


def at_shanghai(year: int, month: int, day: int, hour: int = 12) -> datetime:
    """A Beijing wall-clock moment as aware UTC."""
    return datetime(year, month, day, hour, tzinfo=UTC) - timedelta(hours=8)
