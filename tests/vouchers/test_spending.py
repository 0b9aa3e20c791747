"""Paying orders with vouchers, through the real order services: the share
and every refusal on the quote and at placement (a refusal writes nothing),
and the money following the order through approve, reject, cancel,
expire, no-show, confirm and auto-close."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from booking.accounts.models import RelatedParty, User
from booking.audit.models import AuditEvent
from booking.errors import DomainError, NotFound
from booking.extensions import db
from booking.orders import jobs, services
from booking.orders import service_orders as so
from booking.orders.models import Booking, OrderStatus
from booking.orders.payment import INSTRUMENT_TIME, OrderDraft, options_for
from tests.vouchers.spending_helpers import (
    HOURLY_FEN,
    NOW,
    UNIT_FEN,
    Factories,
    World,
    book,
    fresh,
    key,
    later,
    order_service,
    written,
)
from vouchers import ledger
from vouchers.models import (
    EntryKind,
    GrantStatus,
    GroupSpend,
    LedgerEntry,
    RedemptionMode,
    VoucherUse,
)
from vouchers.spending import VoucherRefused

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
TWO_HOURS = 2 * HOURLY_FEN  # the default booking: 2 h, quote ¥20,000
SHARE = TWO_HOURS // 2  # 50 %: ¥10,000


@pytest.fixture
def factories(
    make_org: Any,
    make_user: Any,
    make_instrument: Any,
    make_service_item: Any,
    make_programme: Any,
    make_grant: Any,
) -> Factories:
    return Factories(
        make_org, make_user, make_instrument, make_service_item, make_programme, make_grant
    )


@pytest.fixture
def world(factories: Factories) -> World:
    return factories.world()


def quote_options(world: World, user: User | None = None, price: int = TWO_HOURS) -> list[Any]:
    user = user or world.firm
    draft = OrderDraft(
        enterprise=user.organization,
        provider=world.provider,
        service_kind=INSTRUMENT_TIME,
        item_key=f"instrument:{world.instrument.id}",
        price_fen=price,
    )
    return options_for(draft, user, NOW)


def the_use() -> VoucherUse:
    return db.session.scalars(select(VoucherUse)).one()


def entries(use: VoucherUse) -> dict[str, int]:
    rows = db.session.scalars(select(LedgerEntry).where(LedgerEntry.voucher_use_id == use.id)).all()
    return {row.kind: row.amount_fen for row in rows}


def use_events(use: VoucherUse) -> list[tuple[str, str | None, str | None, int | None]]:
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.object_type == "voucher_use", AuditEvent.object_id == use.id)
        .order_by(AuditEvent.id)
    ).all()
    return [(e.action, e.from_state, e.to_state, e.actor_user_id) for e in events]


def assert_refused(
    world: World, message: str, payment: str | None = None, price: int = TWO_HOURS
) -> None:
    """Shown disabled with the reason on the quote; refused at placement,
    with nothing written (the view rolls back, as here)."""
    payment = payment or key(world.grant)
    listed = {o.key: o for o in quote_options(world, price=price)}
    if payment in listed:
        option = listed[payment]
        assert not option.usable and option.share_fen == 0
        assert option.refusal is not None and message in option.refusal
    before = written()
    held = fresh(world.grant).held_fen
    with pytest.raises(DomainError, match=message):
        book(world.firm, world.instrument, payment)
    assert written() == before
    assert fresh(world.grant).held_fen == held


# --- the quote -------------------------------------------------------------------------------


def test_quote_offers_each_grant_with_its_split(world: World, factories: Factories) -> None:
    suspended = factories.make_grant(
        world.programme, world.firm.organization, status=GrantStatus.SUSPENDED
    )
    factories.make_grant(world.programme, world.firm.organization, status=GrantStatus.SUBMITTED)
    factories.make_grant(world.programme)  # another firm's grant is never offered
    options = {o.key: o for o in quote_options(world)}
    assert set(options) == {key(world.grant), key(suspended)}
    mine = options[key(world.grant)]
    assert (mine.share_fen, mine.own_fen, mine.refusal, mine.usable) == (SHARE, SHARE, None, True)
    assert world.programme.name_zh in mine.label
    assert "通兑" in mine.note
    off = options[key(suspended)]
    assert not off.usable and off.refusal is not None and "暂停" in off.refusal
    assert written()[:3] == (0, 0, 0)  # quoting writes nothing


def test_firm_reimbursed_mode_says_the_firm_pays_first(factories: Factories) -> None:
    world = factories.world(mode=RedemptionMode.FIRM_REIMBURSED)
    (option,) = quote_options(world)
    assert "全额支付" in option.note and option.usable


@pytest.mark.parametrize(
    ("price", "overrides", "grant_fen", "share"),
    [
        (TWO_HOURS, {}, 5_000_000, SHARE),  # price × ratio
        (4 * HOURLY_FEN + 1, {}, 5_000_000, 2_000_000),  # the per-order cap
        (TWO_HOURS, {"subsidy_percent": 33}, 5_000_000, 660_000),
        (333, {"subsidy_percent": 33}, 5_000_000, 109),  # floored to the fen
        (TWO_HOURS, {}, 400_000, 400_000),  # what is left of the grant
        (TWO_HOURS, {"order_cap_fen": None}, 5_000_000, SHARE),
    ],
)
def test_share_is_the_least_of_ratio_caps_and_balance(
    factories: Factories, price: int, overrides: dict[str, Any], grant_fen: int, share: int
) -> None:
    world = factories.world(grant_fen=grant_fen, **overrides)
    (option,) = quote_options(world, price=price)
    assert (option.share_fen, option.own_fen) == (share, price - share)


def test_held_shares_reduce_what_a_new_order_may_draw(world: World) -> None:
    book(world.firm, world.instrument, key(world.grant), hours=4)  # share 2,000,000 held
    db.session.commit()
    ledger.hold(world.grant.id, 2_500_000)  # another earmark
    (option,) = quote_options(world)
    assert option.share_fen == 500_000


# --- refusals: each rule its own reason, nothing written ----------------------------------


def test_suspended_grant_is_refused(world: World) -> None:
    world.grant.status = GrantStatus.SUSPENDED
    db.session.commit()
    assert_refused(world, "暂停使用")


def test_closed_grant_is_refused(world: World) -> None:
    world.grant.status = GrantStatus.CLOSED
    db.session.commit()
    assert_refused(world, "额度已关闭")


def test_after_the_programme_ends_is_refused(factories: Factories) -> None:
    world = factories.world(applications_close_on=date(2026, 11, 1), valid_until=date(2026, 11, 30))
    assert_refused(world, "使用期已于 2026-11-30 结束")


def test_before_the_programme_opens_is_refused(factories: Factories) -> None:
    # 2026-12-01 08:00 in Shanghai is still 11-30 in UTC: the local date decides.
    world = factories.world(applications_open_on=date(2026, 12, 2))
    assert_refused(world, "自 2026-12-02 起才能使用")


def test_unrecognised_provider_is_refused(world: World, factories: Factories) -> None:
    other = factories.make_programme(providers=[])  # recognises nobody
    grant = factories.make_grant(other, world.firm.organization)
    db.session.commit()
    assert_refused(world, "不在此券种认定的服务机构名单内", key(grant))


def test_recognised_provider_of_another_region_is_paid(world: World, factories: Factories) -> None:
    authority = world.programme.authority
    assert world.provider.region_id != authority.region_id  # cross-region (跨区域通兑)
    assert world.provider.region_id != world.firm.organization.region_id
    booking = book(world.firm, world.instrument, key(world.grant))
    assert the_use().booking_id == booking.id


def test_service_kind_not_eligible_is_refused(factories: Factories) -> None:
    world = factories.world(eligible_kinds=["testing_service"])
    assert_refused(world, "不支持仪器机时")
    # The testing service of the same provider is paid.
    order_service(world.firm, world.item, payment=key(world.grant))
    assert the_use().service_kind == "testing_service"


def test_enterprise_category_not_eligible_is_refused(factories: Factories) -> None:
    world = factories.world(eligible_categories=["high_tech"])
    assert_refused(world, "类别不在该券种的支持范围内")


def test_expired_certificate_is_refused(world: World) -> None:
    world.grant.certificate_valid_until = date(2026, 11, 30)
    db.session.commit()
    assert_refused(world, "资质证书")


def test_declared_related_party_is_refused(world: World) -> None:
    db.session.add(
        RelatedParty(
            enterprise_id=world.firm.organization_id,
            provider_id=world.provider.id,
            relation="shareholder",
        )
    )
    db.session.commit()
    assert_refused(world, "存在关联关系")


def test_same_controller_on_both_sides_is_refused(world: World) -> None:
    world.firm.organization.controller_name = "张三"
    world.provider.controller_name = "张三"
    db.session.commit()
    assert_refused(world, "存在关联关系")


def test_share_of_zero_is_refused(factories: Factories) -> None:
    world = factories.world(subsidy_percent=1)
    world.instrument.prices[0].price_fen_per_hour = 40  # 2 h = 80 fen, 1 % = 0
    db.session.commit()
    assert_refused(world, "支付金额为零", price=80)


def test_exhausted_grant_is_refused_as_insufficient(factories: Factories) -> None:
    world = factories.world(grant_fen=SHARE)
    book(world.firm, world.instrument, key(world.grant), hour=14)
    db.session.commit()
    assert_refused(world, "余额不足")
    with pytest.raises(ledger.InsufficientFunds):
        book(world.firm, world.instrument, key(world.grant), hour=16)


@pytest.mark.parametrize("payment", ["grant:abc", "grant:999999", "coupon:1", "grant:-1", "grant:"])
def test_unknown_payment_keys_are_not_found(world: World, payment: str) -> None:
    before = written()
    with pytest.raises(NotFound, match="不存在"):
        book(world.firm, world.instrument, payment)
    assert written() == before


def test_another_firms_grant_never_pays(world: World, factories: Factories) -> None:
    stranger = factories.make_grant(world.programme)
    db.session.commit()
    before = written()
    with pytest.raises(NotFound):
        book(world.firm, world.instrument, key(stranger))
    assert written() == before
    assert fresh(stranger).held_fen == 0


def test_refusal_at_placement_rechecks_fresh_data(world: World) -> None:
    """The quote said yes; the authority suspended the grant before the confirm."""
    assert quote_options(world)[0].usable
    world.grant.status = GrantStatus.SUSPENDED
    db.session.commit()
    before = written()
    with pytest.raises(VoucherRefused, match="暂停"):
        book(world.firm, world.instrument, key(world.grant))
    assert written() == before


# --- placement -------------------------------------------------------------------------------


def test_placing_with_a_voucher_holds_the_share(world: World) -> None:
    booking = book(world.firm, world.instrument, key(world.grant))
    db.session.commit()
    use = the_use()
    assert booking.status == OrderStatus.REQUESTED
    assert (use.status, use.booking_id, use.service_order_id) == ("held", booking.id, None)
    assert (use.price_fen, use.share_fen, use.used_fen) == (TWO_HOURS, SHARE, None)
    assert use.item_key == f"instrument:{world.instrument.id}"
    assert (use.provider_id, use.enterprise_id) == (world.provider.id, world.firm.organization_id)
    assert use.service_kind == "instrument_time" and use.controller_key is None
    assert use.claim_deadline == world.programme.claim_deadline
    assert use.rules["subsidy_percent"] == 50
    assert use.rules["order_cap_fen"] == 2_000_000
    assert use.rules["mode"] == "provider_redeems"
    assert use.rules["valid_until"] == "2026-12-31"
    assert use.rules["authority_id"] == world.programme.authority_id
    grant = fresh(world.grant)
    assert (grant.available_fen, grant.held_fen, grant.locked_fen) == (5_000_000, SHARE, 0)
    assert entries(use) == {}  # an earmark is not a money movement
    assert use_events(use) == [("voucher_use.hold", None, "held", world.firm.id)]
    # The rules snapshot stays when the programme changes.
    world.programme.subsidy_percent = 80
    db.session.commit()
    assert the_use().rules["subsidy_percent"] == 50


def test_paying_yourself_writes_no_use(world: World) -> None:
    book(world.firm, world.instrument, "")
    db.session.commit()
    assert written()[2] == 0


def test_instant_confirmation_locks_at_once(world: World) -> None:
    booking = book(world.firm, world.instant, key(world.grant))
    db.session.commit()
    use = the_use()
    assert booking.status == OrderStatus.CONFIRMED
    assert (use.status, use.locked_at) == ("locked", NOW)
    grant = fresh(world.grant)
    assert (grant.available_fen, grant.held_fen, grant.locked_fen) == (4_000_000, 0, SHARE)
    assert entries(use) == {EntryKind.LOCK: SHARE}
    assert [e[0] for e in use_events(use)] == ["voucher_use.hold", "voucher_use.lock"]
    assert ledger.mismatches() == []


def test_double_submit_makes_one_use_and_one_hold(world: World) -> None:
    first = book(world.firm, world.instant, key(world.grant), idempotency_key="k-1")
    db.session.commit()
    again = book(world.firm, world.instant, key(world.grant), idempotency_key="k-1")
    db.session.commit()
    assert again.id == first.id
    assert written()[2:] == (1, 2)  # one use; the grant's issue and one lock
    assert fresh(world.grant).locked_fen == SHARE


# --- the money follows the order ----------------------------------------------------------


def test_approve_then_confirm_uses_the_share(world: World) -> None:
    booking = book(world.firm, world.instrument, key(world.grant))
    services.approve_booking(booking, world.staff, later(hours=1))
    db.session.commit()
    use = the_use()
    assert (use.status, use.locked_at) == ("locked", later(hours=1))
    assert fresh(world.grant).held_fen == 0
    start = booking.starts_at
    services.check_in(booking, world.firm, start, start)
    services.record_usage(booking, world.staff, booking.ends_at, booking.ends_at)
    services.confirm_booking(booking, world.firm, 5, "", booking.ends_at + timedelta(hours=1))
    db.session.commit()
    use = the_use()
    assert (use.status, use.used_fen) == ("used", SHARE)
    assert use.used_at == booking.ends_at + timedelta(hours=1)
    assert entries(use) == {EntryKind.LOCK: SHARE, EntryKind.USE: SHARE}
    grant = fresh(world.grant)
    assert (grant.available_fen, grant.locked_fen, grant.used_fen) == (4_000_000, 0, SHARE)
    assert use_events(use) == [
        ("voucher_use.hold", None, "held", world.firm.id),
        ("voucher_use.lock", "held", "locked", world.staff.id),
        ("voucher_use.use", "locked", "used", world.firm.id),
    ]
    assert ledger.mismatches() == []


def test_an_overrun_never_raises_the_share(world: World) -> None:
    booking = book(world.firm, world.instant, key(world.grant))
    start = booking.starts_at
    services.check_in(booking, world.firm, start, start)
    out = booking.ends_at + timedelta(hours=2)
    assert services.record_usage(booking, world.staff, out, out) > TWO_HOURS
    services.confirm_booking(booking, world.firm, 4, "", out)
    assert (the_use().used_fen, fresh(world.grant).used_fen) == (SHARE, SHARE)


def test_reject_releases_the_hold(world: World) -> None:
    booking = book(world.firm, world.instrument, key(world.grant))
    services.reject_booking(booking, world.staff, "仪器检修", later(hours=1))
    db.session.commit()
    use = the_use()
    assert (use.status, use.ended_at) == ("released", later(hours=1))
    grant = fresh(world.grant)
    assert (grant.available_fen, grant.held_fen) == (5_000_000, 0)
    assert entries(use) == {}
    assert use_events(use)[-1] == ("voucher_use.release", "held", "released", world.staff.id)


def test_cancel_with_a_fee_releases_the_whole_share(world: World) -> None:
    booking = book(world.firm, world.instant, key(world.grant))
    # Inside the 24 h cut-off: the firm pays a fee, the voucher pays nothing.
    fee = services.cancel_booking(booking, world.firm, "", booking.starts_at - timedelta(hours=2))
    db.session.commit()
    assert fee > 0
    use = the_use()
    assert use.status == "released"
    assert entries(use) == {EntryKind.LOCK: SHARE, EntryKind.RELEASE: SHARE}
    grant = fresh(world.grant)
    assert (grant.available_fen, grant.locked_fen) == (5_000_000, 0)
    assert ledger.mismatches() == []


def test_expire_job_releases_the_hold(world: World) -> None:
    booking = book(world.firm, world.instrument, key(world.grant))
    db.session.commit()
    assert booking.respond_by is not None
    assert jobs.expire_requests(booking.respond_by)["bookings"] == 1
    db.session.commit()
    use = the_use()
    assert use.status == "released"
    assert fresh(world.grant).held_fen == 0
    assert use_events(use)[-1] == ("voucher_use.release", "held", "released", None)


def test_no_show_job_releases_the_lock(world: World) -> None:
    booking = book(world.firm, world.instant, key(world.grant))
    db.session.commit()
    assert jobs.mark_no_shows(booking.ends_at)["no_shows"] == 1
    db.session.commit()
    assert the_use().status == "released"
    grant = fresh(world.grant)
    assert (grant.available_fen, grant.locked_fen) == (5_000_000, 0)
    assert ledger.mismatches() == []


def test_auto_close_uses_the_share(world: World) -> None:
    booking = book(world.firm, world.instant, key(world.grant))
    services.check_in(booking, world.firm, booking.starts_at, booking.starts_at)
    services.record_usage(booking, world.staff, booking.ends_at, booking.ends_at)
    db.session.commit()
    assert jobs.close_unconfirmed(booking.ends_at + timedelta(days=8))["bookings"] == 1
    db.session.commit()
    use = the_use()
    assert (use.status, use.used_fen) == ("used", SHARE)
    assert use_events(use)[-1] == ("voucher_use.use", "locked", "used", None)
    assert ledger.mismatches() == []


def test_transitions_that_move_no_money_leave_the_use(world: World) -> None:
    booking = book(world.firm, world.instant, key(world.grant))
    services.check_in(booking, world.firm, booking.starts_at, booking.starts_at)
    services.record_usage(booking, world.staff, booking.ends_at, booking.ends_at)
    assert the_use().status == "locked"


def test_service_order_uses_only_what_was_tested(world: World, tmp_path: Path) -> None:
    order = order_service(world.firm, world.item, quantity=5, payment=key(world.grant))
    use = the_use()
    assert (use.service_order_id, use.item_key) == (order.id, f"service:{world.item.id}")
    assert (use.price_fen, use.share_fen) == (5 * UNIT_FEN, 1_000_000)
    so.accept_service_order(order, world.staff, later(hours=1))
    assert the_use().status == "locked"
    so.receive_samples(order, world.staff, later(days=7))
    so.complete_service_order(
        order, world.staff, 2, io.BytesIO(PDF), "报告.pdf", tmp_path, later(days=9)
    )
    so.confirm_service_order(order, world.firm, 5, "", later(days=10))
    db.session.commit()
    use = the_use()
    used = 2 * UNIT_FEN // 2
    assert (use.status, use.used_fen) == ("used", used)
    assert entries(use) == {
        EntryKind.LOCK: 1_000_000,
        EntryKind.USE: used,
        EntryKind.RELEASE: 1_000_000 - used,
    }
    grant = fresh(world.grant)
    assert (grant.available_fen, grant.locked_fen, grant.used_fen) == (
        5_000_000 - used,
        0,
        used,
    )
    assert ledger.mismatches() == []


def test_service_order_cancel_releases(world: World) -> None:
    order = order_service(world.firm, world.item, payment=key(world.grant))
    so.cancel_service_order(order, world.firm, "不需要了", later(hours=1))
    assert the_use().status == "released"
    assert fresh(world.grant).held_fen == 0


# --- controller groups and split orders ----------------------------------------------------


def test_controller_group_cap_spans_firms(world: World, factories: Factories) -> None:
    programme = world.programme
    programme.group_cap_fen = 1_500_000
    world.firm.organization.controller_name = "李四"
    sister = factories.firm(controller_name="李四")
    sister_grant = factories.make_grant(programme, sister.organization)
    db.session.commit()
    book(world.firm, world.instrument, key(world.grant))  # 1,000,000
    book(sister, world.instrument, key(sister_grant), hour=14)  # only 500,000 left
    db.session.commit()
    shares = sorted(u.share_fen for u in db.session.scalars(select(VoucherUse)))
    assert shares == [500_000, 1_000_000]
    assert all(u.controller_key == "李四" for u in db.session.scalars(select(VoucherUse)))
    group = db.session.scalars(select(GroupSpend)).one()
    assert (group.cap_fen, group.committed_fen) == (1_500_000, 1_500_000)
    options = {o.key: o for o in quote_options(world, sister)}
    assert "已达上限" in (options[key(sister_grant)].refusal or "")
    before = written()
    with pytest.raises(ledger.InsufficientFunds, match="已达上限"):
        book(sister, world.instrument, key(sister_grant), hour=17)
    assert written() == before
    # A released share gives the group its room back.
    first = db.session.scalars(select(Booking).order_by(Booking.id)).first()
    assert first is not None
    services.reject_booking(first, world.staff, "满了", later(hours=1))
    db.session.commit()
    assert db.session.scalars(select(GroupSpend)).one().committed_fen == 500_000


def test_group_commitment_shrinks_to_the_used_amount(
    world: World, factories: Factories, tmp_path: Path
) -> None:
    world.programme.group_cap_fen = 3_000_000
    world.firm.organization.controller_name = "王五"
    db.session.commit()
    order = order_service(world.firm, world.item, quantity=5, payment=key(world.grant))
    so.accept_service_order(order, world.staff, later(hours=1))
    so.receive_samples(order, world.staff, later(days=7))
    so.complete_service_order(order, world.staff, 1, io.BytesIO(PDF), "r.pdf", tmp_path, later(9))
    so.confirm_service_order(order, world.firm, 5, "", later(days=10))
    assert db.session.scalars(select(GroupSpend)).one().committed_fen == UNIT_FEN // 2


def test_split_orders_are_flagged_not_refused(world: World) -> None:
    # Two 3-hour bookings: ¥15,000 of subsidy each, ¥30,000 together > the ¥20,000 cap.
    first = book(world.firm, world.instrument, key(world.grant), hours=3)
    second = book(world.firm, world.instrument, key(world.grant), hour=14, hours=3)
    db.session.commit()
    uses = {u.booking_id: u for u in db.session.scalars(select(VoucherUse))}
    assert not uses[first.id].split_flag
    flagged = uses[second.id]
    assert flagged.split_flag and flagged.share_fen == 1_500_000
    assert flagged.split_reason is not None and str(uses[first.id].id) in flagged.split_reason
    actions = [e[0] for e in use_events(flagged)]
    assert actions == ["voucher_use.hold", "voucher_use.split_flag"]


def test_no_split_flag_under_the_cap_or_outside_the_window(world: World) -> None:
    book(world.firm, world.instrument, key(world.grant), hours=1)  # ¥5,000 subsidy
    book(world.firm, world.instrument, key(world.grant), hour=14, hours=1)  # ¥10,000 together
    # Outside the 30-day window: a month ago, then today (another item than above).
    book(world.firm, world.instant, key(world.grant), days_ahead=-10, hours=3, now=later(-31))
    book(world.firm, world.instant, key(world.grant), hour=14, hours=3)
    db.session.commit()
    assert not any(u.split_flag for u in db.session.scalars(select(VoucherUse)))


def test_released_orders_do_not_count_as_splits(world: World) -> None:
    first = book(world.firm, world.instrument, key(world.grant), hours=3)
    services.reject_booking(first, world.staff, "不行", later(hours=1))
    book(world.firm, world.instrument, key(world.grant), hour=14, hours=3)
    db.session.commit()
    assert not any(u.split_flag for u in db.session.scalars(select(VoucherUse)))


def test_ledger_and_cache_agree_after_a_busy_day(world: World) -> None:
    for hour in (8, 10, 12, 14, 16):
        booking = book(world.firm, world.instant, key(world.grant), hour=hour, hours=1)
        if hour == 8:
            services.cancel_booking(booking, world.firm, "", NOW)
    db.session.commit()
    assert ledger.mismatches() == []
    grant = fresh(world.grant)
    assert grant.locked_fen == 4 * HOURLY_FEN // 2
