"""A world for paying orders with vouchers: a recognised provider with an
instrument that needs approval, one that confirms at once and a testing
service; a verified firm with a user and an approved grant; helpers that
place orders through the real order services and count what was written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select

from booking.accounts.models import Organization, OrgKind, User
from booking.extensions import db
from booking.orders import service_orders as so
from booking.orders.models import Booking, ServiceOrder
from booking.orders.services import BookingRequest, place_booking
from instruments.models import Instrument, ServiceItem
from tests.orders.conftest import slot
from tests.vouchers.conftest import VOUCHER_NOW
from vouchers.models import Grant, LedgerEntry, Programme, VoucherUse

NOW = VOUCHER_NOW  # Tuesday 2026-12-01 08:00 in Shanghai
NEXT_WEEK = date(2026, 12, 7)
HOURLY_FEN = 1_000_000  # ¥10,000 an hour: 2 h at 50 % is a ¥10,000 share
UNIT_FEN = 400_000  # ¥4,000 a sample


@dataclass
class World:
    provider: Organization
    staff: User  # provider staff: approves, records usage
    firm: User
    programme: Programme
    grant: Grant
    instrument: Instrument  # approval required
    instant: Instrument  # confirmed at once
    item: ServiceItem


@dataclass
class Factories:
    make_org: Callable[..., Organization]
    make_user: Callable[..., User]
    make_instrument: Callable[..., Instrument]
    make_service_item: Callable[..., ServiceItem]
    make_programme: Callable[..., Programme]
    make_grant: Callable[..., Grant]

    def instrument(self, provider: Organization, approval: bool = True) -> Instrument:
        return self.make_instrument(
            provider=provider,
            prices={"entrusted": HOURLY_FEN},
            open_weekdays="1234567",
            open_from=time(8, 0),
            open_until=time(20, 0),
            slot_minutes=60,
            min_minutes=60,
            max_minutes=240,
            max_days_ahead=30,
            approval_required=approval,
            cancel_cutoff_hours=24,
            cancel_fee_percent=50,
        )

    def firm(self, **org: Any) -> User:
        return self.make_user(org=self.make_org(kind=OrgKind.ENTERPRISE, **org))

    def world(
        self, grant_fen: int = 5_000_000, firm_org: dict[str, Any] | None = None, **programme: Any
    ) -> World:
        provider = self.make_org(kind=OrgKind.PROVIDER)
        staff = self.make_user(org=provider)
        firm = self.firm(**(firm_org or {}))
        made = self.make_programme(providers=[provider], **programme)
        grant = self.make_grant(made, enterprise=firm.organization, amount_fen=grant_fen)
        world = World(
            provider=provider,
            staff=staff,
            firm=firm,
            programme=made,
            grant=grant,
            instrument=self.instrument(provider),
            instant=self.instrument(provider, approval=False),
            item=self.make_service_item(
                provider=provider, unit_price_fen=UNIT_FEN, weekly_capacity=40
            ),
        )
        db.session.commit()
        return world


def key(grant: Grant) -> str:
    return f"grant:{grant.id}"


def booking_request(
    instrument: Instrument,
    days_ahead: int = 10,
    hour: int = 9,
    hours: int = 2,
    payment: str = "",
    idempotency_key: str | None = None,
) -> BookingRequest:
    start, end = slot(days_ahead, hour, hours)
    return BookingRequest(
        instrument_id=instrument.id,
        service_mode="entrusted",
        starts_at=start,
        ends_at=end,
        payment=payment,
        idempotency_key=idempotency_key,
    )


def book(
    user: User,
    instrument: Instrument,
    payment: str = "",
    now: datetime = NOW,
    **kw: Any,
) -> Booking:
    return place_booking(user, booking_request(instrument, payment=payment, **kw), now)


def order_service(
    user: User,
    item: ServiceItem,
    quantity: int = 5,
    payment: str = "",
    now: datetime = NOW,
    key: str | None = None,
) -> ServiceOrder:
    return so.place_service_order(
        user, item.id, quantity, NEXT_WEEK, "拉伸试验", "钢板", key, now, payment=payment
    )


def count(model: type[Any]) -> int:
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def written() -> tuple[int, int, int, int]:
    """Bookings, service orders, voucher uses and ledger entries in the database."""
    db.session.rollback()
    return count(Booking), count(ServiceOrder), count(VoucherUse), count(LedgerEntry)


def fresh(grant: Grant) -> Grant:
    db.session.expire_all()
    found = db.session.get(Grant, grant.id)
    assert found is not None
    return found


def later(days: int = 0, hours: int = 0) -> datetime:
    return NOW + timedelta(days=days, hours=hours)
