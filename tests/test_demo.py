"""The demo alliance (`flask --app booking seed-demo`): the numbers of the
seed article, valid identities, sign-ins that work, idempotent re-runs."""

from __future__ import annotations

from collections import Counter
from itertools import pairwise
from typing import Any

from flask import Flask
from sqlalchemy import and_, func, select
from sqlalchemy.orm import aliased

from booking import demo
from booking.accounts import uscc
from booking.accounts.models import Organization, OrgKind, Region, User
from booking.audit.models import AuditEvent
from booking.extensions import db, utcnow
from booking.orders.clock import local
from booking.orders.models import (
    ACTIVE_STATUSES,
    Booking,
    InternalUse,
    OrderStatus,
    ServiceOrder,
    UtilisationSnapshot,
)
from booking.orders.policy import usage_charge
from instruments import demo_data
from instruments.models import Instrument, InstrumentPrice, ServiceItem
from instruments.services import refresh_instrument_search, refresh_service_item_search


def _count(model: Any, *where: Any) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_seed_creates_the_alliance_of_the_article() -> None:
    assert not demo.has_data()

    summary = demo.seed()
    db.session.commit()

    assert demo.has_data()
    assert _count(Region) == 3
    assert {r.code: r.division_code for r in db.session.scalars(select(Region))} == {
        "jiading": "310114",
        "suzhou": "320500",
        "wenzhou": "330300",
    }
    providers = list(
        db.session.scalars(select(Organization).where(Organization.kind == OrgKind.PROVIDER))
    )
    assert len(providers) == 130
    assert all(p.status == "verified" for p in providers)
    assert set(Counter(p.provider_type for p in providers)) == {
        "university",
        "institute",
        "testing_body",
        "engineering_centre",
    }
    assert {p.region.code for p in providers} == {"jiading", "suzhou", "wenzhou"}
    assert _count(Instrument) == 1705
    assert _count(ServiceItem) == 309
    assert _count(Organization, Organization.kind == OrgKind.AUTHORITY) == 3
    assert _count(Organization, Organization.kind == OrgKind.PLATFORM) == 1

    firms = list(
        db.session.scalars(select(Organization).where(Organization.kind == OrgKind.ENTERPRISE))
    )
    assert len(firms) >= 60
    statuses = Counter(f.status for f in firms)
    assert statuses["verified"] > statuses["pending"] > 0
    assert {f.region.code for f in firms if f.status == "pending"} >= {"jiading"}
    controllers = Counter(f.controller_name for f in firms)
    assert controllers.most_common(1)[0][1] >= 2  # groups for the controller caps
    assert {f.enterprise_category for f in firms} == {"tech_sme", "high_tech", "other"}

    codes = list(db.session.scalars(select(Organization.uscc)))
    assert all(code is not None and uscc.is_valid(code) for code in codes)
    assert len(set(codes)) == len(codes)

    assert summary.created["instruments"] == 1705
    assert summary.created["service items"] == 309
    assert "1,705" in summary.describe()


def test_catalogue_rows_carry_the_services_search_fields_and_prices() -> None:
    demo.seed()
    db.session.commit()

    instruments = list(db.session.scalars(select(Instrument).order_by(Instrument.id)))
    assert any("色谱" in i.search_tokens for i in instruments)
    assert any("质谱" in i.search_tokens for i in instruments)
    for instrument in instruments[::50]:
        text, tokens = instrument.search_text, list(instrument.search_tokens)
        refresh_instrument_search(instrument)
        assert (instrument.search_text, list(instrument.search_tokens)) == (text, tokens)
    for item in db.session.scalars(select(ServiceItem)):
        text, tokens = item.search_text, list(item.search_tokens)
        refresh_service_item_search(item)
        assert (item.search_text, list(item.search_tokens)) == (text, tokens)
    db.session.rollback()

    lowest = select(
        InstrumentPrice.instrument_id, func.min(InstrumentPrice.price_fen_per_hour)
    ).group_by(InstrumentPrice.instrument_id)
    minimum = dict(db.session.execute(lowest).all())
    assert len(minimum) == 1705  # every instrument has at least one service mode
    assert all(i.price_from_fen == minimum[i.id] for i in instruments)
    assert all(10_000 <= fen <= 150_000 for fen in minimum.values())
    leads = {(p.mode, p.lead_days) for p in db.session.scalars(select(InstrumentPrice))}
    assert ("entrusted", 7) in leads
    assert all(days == (7 if mode == "entrusted" else 3) for mode, days in leads)
    assert all(len(i.specifications) <= 500 and len(i.functions) <= 300 for i in instruments)
    assert Counter(i.status for i in instruments).most_common(1)[0][0] == "normal"
    assert Counter(i.sharing_mode for i in instruments).most_common(1)[0][0] == "external"


def test_every_demo_sign_in_works_and_belongs_where_it_says() -> None:
    demo.seed()
    db.session.commit()

    users = {u.email: u for u in db.session.scalars(select(User))}
    for login in demo.DEMO_LOGINS:
        user = users[login.email]
        assert user.check_password(demo.DEMO_PASSWORD), login.email
        assert user.active
    kinds = {email: users[email].organization for email in users}
    assert kinds["platform@demo.yrd"].kind == OrgKind.PLATFORM
    assert kinds["authority.jiading@demo.yrd"].kind == OrgKind.AUTHORITY
    assert kinds["authority.jiading@demo.yrd"].region.code == "jiading"
    assert kinds["enterprise@demo.yrd"].status == "verified"
    assert kinds["enterprise@demo.yrd"].region.code == "jiading"
    assert kinds["enterprise.suzhou@demo.yrd"].region.code == "suzhou"
    assert kinds["pending@demo.yrd"].status == "pending"
    assert kinds["provider2@demo.yrd"].region.code == "suzhou"

    provider = kinds["provider@demo.yrd"]
    assert (provider.kind, provider.provider_type, provider.region.code) == (
        OrgKind.PROVIDER,
        "institute",
        "jiading",
    )
    subcategories = set(
        db.session.scalars(
            select(func.substr(Instrument.classification_code, 1, 4)).where(
                Instrument.provider_id == provider.id
            )
        )
    )
    assert {"0102", "0105"} <= subcategories  # 质谱 and 色谱
    assert _count(Instrument, Instrument.provider_id == provider.id) >= 30

    text = demo.logins_text()
    for login in demo.DEMO_LOGINS:
        assert login.email in text
    assert demo.DEMO_PASSWORD in text


def test_second_run_creates_nothing_and_changes_nothing() -> None:
    demo.seed()
    db.session.commit()
    before = db.session.execute(
        select(
            Instrument.id, Instrument.internal_no, Instrument.search_text, Instrument.updated_at
        ).order_by(Instrument.id)
    ).all()
    hashes = dict(db.session.execute(select(User.email, User.password_hash)).all())

    again = demo.seed()
    db.session.commit()

    assert again.created_total == 0
    assert again.totals["instruments"] == 1705
    assert (
        db.session.execute(
            select(
                Instrument.id, Instrument.internal_no, Instrument.search_text, Instrument.updated_at
            ).order_by(Instrument.id)
        ).all()
        == before
    )
    assert dict(db.session.execute(select(User.email, User.password_hash)).all()) == (hashes)


def test_scale_adds_instruments_of_the_same_kinds_with_distinct_numbers() -> None:
    messages: list[str] = []
    summary = demo.seed(scale=2400, progress=messages.append)
    db.session.commit()

    assert _count(Instrument) == 2400
    assert summary.created["instruments"] == 2400
    assert any(m.startswith("instruments 2,400/2,400") for m in messages)
    kinds = {k.code for k in demo_data.KINDS}
    assert set(db.session.scalars(select(Instrument.classification_code))) <= kinds
    # The realistic 1,705 are the prefix: asking for fewer later adds nothing.
    assert demo.seed().created_total == 0
    more = demo.seed(scale=2500)
    assert set(more.created) == {"instruments", "instrument prices"}
    assert more.created["instruments"] == 100
    assert _count(Instrument) == 2500


def test_generated_alliance_is_deterministic() -> None:
    providers = demo_data.providers()
    assert providers == demo_data.providers()
    assert len({p.uscc for p in providers}) == 130
    first = list(demo_data.instruments(providers, 1800))
    assert first[:1705] == list(demo_data.instruments(providers))
    assert first == list(demo_data.instruments(providers, 1900))[:1800]
    assert demo_data.service_items(providers) == demo_data.service_items(providers)
    assert demo_data.enterprises() == demo_data.enterprises()


def test_cli_seeds_then_leaves_a_database_with_data_alone(app: Flask) -> None:
    runner = app.test_cli_runner()

    result = runner.invoke(args=["seed-demo", "--scale", "40"])
    assert result.exit_code == 0, result.output
    assert "instruments" in result.output
    assert "platform@demo.yrd" in result.output

    result = runner.invoke(args=["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    assert "already has data" in result.output
    assert "enterprise@demo.yrd" in result.output
    assert _count(Instrument) == 40


def test_seed_gives_the_dashboards_an_order_history() -> None:
    summary = demo.seed()
    db.session.commit()
    now = utcnow()
    users = {u.email: u for u in db.session.scalars(select(User))}
    provider_id = users["provider@demo.yrd"].organization_id
    firm_user = users["enterprise@demo.yrd"]

    bookings = list(
        db.session.scalars(select(Booking).join(Booking.instrument).order_by(Booking.id))
    )
    assert summary.created["bookings"] == len(bookings)
    assert 300 <= len(bookings) <= 650
    assert "bookings" in summary.describe() and "service orders" in summary.describe()
    own = [b for b in bookings if b.instrument.provider_id == provider_id]
    upcoming = Counter((b.status, b.user_id == firm_user.id) for b in own if b.starts_at > now)
    requested = upcoming[("requested", True)] + upcoming[("requested", False)]
    confirmed = upcoming[("confirmed", True)] + upcoming[("confirmed", False)]
    assert 8 <= requested <= 12 and 12 <= confirmed <= 18
    assert upcoming[("requested", True)] >= 2 and upcoming[("confirmed", True)] >= 2
    assert all(
        b.respond_by is not None and b.respond_by > now
        for b in own
        if b.status == OrderStatus.REQUESTED
    )
    assert all(b.starts_at > now for b in bookings if b.status in ACTIVE_STATUSES)

    past = [b for b in bookings if b.starts_at < now]
    statuses = Counter(b.status for b in past)
    assert statuses["closed"] > len(past) // 2
    assert min(statuses[s] for s in ("completed", "cancelled", "rejected", "no_show")) > 0
    assert sum(1 for b in own if b.status in ("completed", "closed")) >= 30
    assert len({b.instrument.provider_id for b in past}) >= 15
    assert len({b.enterprise_id for b in past}) >= 10
    assert {firm_user.organization_id, users["enterprise.suzhou@demo.yrd"].organization_id} <= {
        b.enterprise_id for b in past if b.status == "closed"
    }
    for b in bookings:
        start, end = local(b.starts_at), local(b.ends_at)
        instrument = b.instrument
        assert str(start.isoweekday()) in instrument.open_weekdays
        assert instrument.open_from <= start.time() and end.time() <= instrument.open_until
        assert start.date() == end.date() and 60 <= b.hours * 60 <= 240
        if b.status in ("completed", "closed"):
            assert b.checked_in_at is not None and b.checked_out_at is not None
            assert abs((b.checked_in_at - b.starts_at).total_seconds()) <= 15 * 60
            assert b.charge_fen == usage_charge(
                b.price_fen_per_hour,
                b.policy,
                b.starts_at,
                b.ends_at,
                b.checked_in_at,
                b.checked_out_at,
            )
        if b.status == "closed" and b.firm_confirmed_at is not None:
            assert b.rating is not None and 3 <= b.rating <= 5

    # No two bookings of an instrument overlap, active or not.
    other = aliased(Booking)
    overlapping = (
        select(func.count())
        .select_from(Booking)
        .join(
            other,
            and_(
                other.instrument_id == Booking.instrument_id,
                other.id > Booking.id,
                other.starts_at < Booking.ends_at,
                other.ends_at > Booking.starts_at,
            ),
        )
    )
    assert db.session.scalar(overlapping) == 0

    # Every order's history starts with its placing and ends in its status.
    events = db.session.execute(
        select(
            AuditEvent.object_type,
            AuditEvent.object_id,
            AuditEvent.action,
            AuditEvent.from_state,
            AuditEvent.to_state,
        )
        .where(AuditEvent.object_type.in_(("booking", "service_order")))
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()
    trails: dict[tuple[str, int], list[Any]] = {}
    for event in events:
        trails.setdefault((event.object_type, event.object_id), []).append(event)
    orders = list(db.session.scalars(select(ServiceOrder)))
    assert len(orders) >= 4
    assert any(o.user_id == firm_user.id and o.status == "requested" for o in orders)
    assert len({o.status for o in orders}) >= 4
    for kind, order_id, status in [("booking", b.id, b.status) for b in bookings] + [
        ("service_order", o.id, o.status) for o in orders
    ]:
        trail = trails[(kind, order_id)]
        assert trail[0].action == f"{kind}.place" and trail[0].from_state is None
        assert trail[-1].to_state == status
        assert all(a.to_state == b.from_state for a, b in pairwise(trail))

    own_snapshots = select(func.sum(UtilisationSnapshot.effective_minutes)).where(
        UtilisationSnapshot.instrument_id.in_({b.instrument_id for b in own})
    )
    assert (db.session.scalar(own_snapshots) or 0) > 0
    assert len(set(db.session.scalars(select(UtilisationSnapshot.month)))) == 6

    # Internal use makes 共享率 realistic: about the national 16–17 % over
    # every instrument, more on the pooled institute's shared instruments.
    entries = list(db.session.scalars(select(InternalUse)))
    assert summary.created["internal use entries"] == len(entries) > 100
    assert all(e.voided_at is None and e.ends_at <= now for e in entries)
    assert _count(AuditEvent, AuditEvent.object_type == "internal_use") == len(entries)

    def rate(*where: Any) -> float:
        effective, external = db.session.execute(
            select(
                func.sum(UtilisationSnapshot.effective_minutes),
                func.sum(UtilisationSnapshot.external_minutes),
            )
            .join(Instrument, Instrument.id == UtilisationSnapshot.instrument_id)
            .where(*where)
        ).one()
        return float(external) / float(effective)

    assert 0.13 <= rate() <= 0.22
    assert 0.20 <= rate(Instrument.provider_id == provider_id) <= 0.40
    # Clear of each other and of every booking's time on the instrument.
    other_entry = aliased(InternalUse)
    overlapping_entries = (
        select(func.count())
        .select_from(InternalUse)
        .join(
            other_entry,
            and_(
                other_entry.instrument_id == InternalUse.instrument_id,
                other_entry.id > InternalUse.id,
                other_entry.starts_at < InternalUse.ends_at,
                other_entry.ends_at > InternalUse.starts_at,
            ),
        )
    )
    assert db.session.scalar(overlapping_entries) == 0
    overlapping_bookings = (
        select(func.count())
        .select_from(InternalUse)
        .join(
            Booking,
            and_(
                Booking.instrument_id == InternalUse.instrument_id,
                func.coalesce(Booking.checked_in_at, Booking.starts_at) < InternalUse.ends_at,
                func.coalesce(Booking.checked_out_at, Booking.ends_at) > InternalUse.starts_at,
            ),
        )
    )
    assert db.session.scalar(overlapping_bookings) == 0

    audit_total = _count(AuditEvent)
    again = demo.seed()
    db.session.commit()
    assert again.created_total == 0
    assert _count(Booking) == len(bookings)
    assert _count(ServiceOrder) == len(orders)
    assert _count(InternalUse) == len(entries)
    assert _count(AuditEvent) == audit_total
