"""Random sequences of voucher actions keep the money invariants (DESIGN.md §3).

Hypothesis drives firms applying for grants, the authority deciding them
(sometimes for less, sometimes refused by the cap or the budget), bookings
and service orders placed with `payment="grant:<id>"`, accepted, rejected,
cancelled, delivered and confirmed (or swept by the order jobs), claims filed
with their evidence and decided, settlement of ended periods, payment,
claw-back and the voucher jobs (expire grants, expire unclaimed uses) while a
monotonic clock moves forward, all through the real services and database.

After every step: every bucket is non-negative and the buckets sum to the
approved amount; the cached balances equal the ledger and the voucher uses
(held, locked, used); the programme never grants beyond its budget nor a
firm beyond its cap; a use's share respects price × ratio and the per-order
cap; the controller group's counter stays within its cap and equals what
its firms' shares commit; one claim per use, claim and use states agree;
one batch per (authority, period) whose totals are its claims'; no money
stays held or locked on an order that has ended. Every refusal is a
DomainError and leaves the database (and the upload folders) exactly as
they were; any other exception fails the test.

A second test walks the same rules in a fixed order, so every stage of the
money's life is reached whatever Hypothesis draws.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, ClassVar, NamedTuple

import hypothesis.strategies as st
import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)
from sqlalchemy import func, literal, select, union_all

from booking.accounts.models import Organization, OrgKind, Region, User
from booking.audit.models import AuditEvent
from booking.errors import DomainError
from booking.extensions import db
from booking.notifications.models import Notification
from booking.orders import jobs as order_jobs
from booking.orders import service_orders as so
from booking.orders import services as orders
from booking.orders.clock import at_local, local
from booking.orders.models import Booking, OrderStatus, ServiceOrder
from booking.orders.services import BookingRequest
from instruments import services as catalogue
from instruments.models import ServiceItem
from vouchers import claims, ledger, programmes, settlement
from vouchers import jobs as voucher_jobs
from vouchers.models import (
    BatchStatus,
    Claim,
    ClaimEvidence,
    ClaimStatus,
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
from vouchers.spending import subsidised

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
# Tuesday 2026-12-01 08:00 in Shanghai, as in the other voucher tests.
START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)
HOURLY_FEN = 800_000  # ¥8,000 an hour: 1-4 h is ¥8,000-32,000
UNIT_FEN = 300_000  # ¥3,000 a sample
YUAN_1000 = 100_000
CONTROLLER = "王建国"  # the 实际控制人 of firms 0 and 1
ENDED = (
    OrderStatus.CLOSED,
    OrderStatus.REJECTED,
    OrderStatus.EXPIRED,
    OrderStatus.CANCELLED,
    OrderStatus.NO_SHOW,
)
LIVE_USE = (UseStatus.HELD, UseStatus.LOCKED)
LIVE_ORDER = (OrderStatus.REQUESTED, OrderStatus.CONFIRMED, OrderStatus.COMPLETED)
# Tables whose rows carry a status a refused action must not change.
STATEFUL: tuple[Any, ...] = (Grant, VoucherUse, Claim, Booking, ServiceOrder, SettlementBatch)
Order = Booking | ServiceOrder


# Hypothesis orders rules by their number of arguments and leans towards the
# first enabled one. Arguments are packed so that moving live orders and
# claims on comes first (depth: orders get delivered, claims settled), then
# applying, placing, settling and time passing (2 arguments, by name).


class Placement(NamedTuple):
    where: str  # "approval" | "instant" | "service"
    day: int
    hour: int
    hours: int
    week: int
    pay: int  # -1: own money; else which grant (see VoucherMachine.payment)


class OrderMove(NamedTuple):
    pick: int
    stages: int
    step: str  # "forward" | "back"
    late: int
    overrun: int
    rating: int


class ClaimMove(NamedTuple):
    pick: int
    defect: str
    verdict: str
    decide: bool


@dataclass
class Factories:
    make_region: Callable[..., Region]
    make_org: Callable[..., Organization]
    make_user: Callable[..., User]
    make_service_item: Callable[..., ServiceItem]
    root: Path


def wipe() -> None:
    """Empty tables for each example (the conftest does it once per test)."""
    db.session.rollback()
    for table in reversed(db.metadata.sorted_tables):
        db.session.execute(table.delete())
    db.session.commit()


def count(model: type[Any]) -> int:
    return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def files_under(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


class VoucherMachine(RuleBasedStateMachine):
    factories: Factories
    runs = 0
    stats: ClassVar[Counter[str]] = Counter()

    def __init__(self) -> None:
        super().__init__()
        wipe()
        type(self).runs += 1
        self.root = self.factories.root / f"run{self.runs}"
        self.now = START
        self.invoice = 0

    # --- the world ------------------------------------------------------------------------

    @initialize(
        mode=st.sampled_from(list(RedemptionMode)),
        percent=st.sampled_from([30, 50, 100]),
        cycle=st.sampled_from(list(SettlementCycle)),
        order_cap=st.sampled_from([None, 1_000_000]),
        group_cap=st.sampled_from([None, 2_000_000, 3_500_000]),
        valid_days=st.integers(15, 45),
        claim_days=st.integers(0, 25),
    )
    def world(
        self,
        mode: str,
        percent: int,
        cycle: str,
        order_cap: int | None,
        group_cap: int | None,
        valid_days: int,
        claim_days: int,
    ) -> None:
        """One authority and programme (small budget), three firms of its
        region (two under one controller), a home provider (instrument needing
        approval, testing service) and a recognised provider of another
        region (instant-confirm instrument)."""
        f = self.factories
        home, away = f.make_region(), f.make_region()
        authority = f.make_org(kind=OrgKind.AUTHORITY, region=home)
        provider = f.make_org(kind=OrgKind.PROVIDER, region=home)
        remote = f.make_org(kind=OrgKind.PROVIDER, region=away)
        firms = [
            f.make_org(kind=OrgKind.ENTERPRISE, region=home, controller_name=CONTROLLER),
            f.make_org(kind=OrgKind.ENTERPRISE, region=home, controller_name=CONTROLLER),
            f.make_org(kind=OrgKind.ENTERPRISE, region=home),
        ]
        self.authority_user = f.make_user(org=authority).id
        self.staff = {provider.id: f.make_user(org=provider).id}
        self.staff[remote.id] = f.make_user(org=remote).id
        self.firm_users = [f.make_user(org=firm).id for firm in firms]
        self.firm_user_of = {firm.id: uid for firm, uid in zip(firms, self.firm_users, strict=True)}
        self.firm_ids = [firm.id for firm in firms]
        self.stranger = f.make_user(org=f.make_org(kind=OrgKind.PROVIDER, region=home)).id
        valid_until = START.date() + timedelta(days=valid_days)
        programme = Programme(
            authority_id=authority.id,
            code="CXQ-SM",
            name_zh="状态机创新券",
            fiscal_year=2026,
            budget_fen=6_000_000,  # ¥60,000: two full ¥40,000 grants do not fit
            subsidy_percent=percent,
            enterprise_cap_fen=4_000_000,
            order_cap_fen=order_cap,
            group_cap_fen=group_cap,
            mode=mode,
            eligible_categories=[],
            eligible_kinds=["instrument_time", "testing_service"],
            applications_open_on=date(2026, 11, 1),
            applications_close_on=valid_until - timedelta(days=2),
            valid_until=valid_until,
            claim_deadline=valid_until + timedelta(days=claim_days),
            settlement_cycle=cycle,
        )
        programme.recognised = [
            RecognisedProvider(provider_id=provider.id),
            RecognisedProvider(provider_id=remote.id),
        ]
        db.session.add(programme)
        db.session.flush()
        self.programme_id = programme.id
        self.cycle = cycle
        self.mode = mode
        self.approval = self._instrument(provider, approval=True)
        self.instant = self._instrument(remote, approval=False)
        self.item = f.make_service_item(
            provider=provider, unit_price_fen=UNIT_FEN, weekly_capacity=20
        ).id
        db.session.commit()
        # Two firms start with grants through the real services (¥45,000 of
        # the ¥60,000 budget); the third must apply, and may find it short.
        for firm, thousands in ((0, 25), (2, 20)):
            self.grant_firm(firm, thousands)

    def grant_firm(self, firm: int, thousands: int) -> None:
        assert self.attempt("apply", lambda: self._apply(firm, thousands))
        grant_id = db.session.scalar(select(func.max(Grant.id)))
        assert grant_id is not None
        officer = self.user(self.authority_user)
        assert self.attempt(
            "approve grant", lambda: programmes.approve_grant(officer, grant_id, self.now)
        )

    def _instrument(self, provider: Organization, approval: bool) -> int:
        return catalogue.create_instrument(
            provider,
            {
                "internal_no": f"SM{provider.id}",
                "name_zh": "扫描电子显微镜",
                "classification_code": "010501",
                "open_weekdays": "1234567",
                "open_from": time(8),
                "open_until": time(20),
                "slot_minutes": 60,
                "min_minutes": 60,
                "max_minutes": 240,
                "max_days_ahead": 30,
                "approval_required": approval,
                "cancel_cutoff_hours": 24,
                "cancel_fee_percent": 50,
            },
            {"entrusted": HOURLY_FEN},
            actor=None,
            lead_days={"entrusted": 1},
        ).id

    # --- helpers --------------------------------------------------------------------------

    def user(self, user_id: int) -> User:
        return db.session.get_one(User, user_id)

    def fingerprint(self) -> tuple[Any, ...]:
        """Everything a refused action must leave as it was: row counts, money
        totals, every status (two round trips) and the stored files."""
        totals = db.session.execute(
            select(
                *(
                    select(func.count()).select_from(m).scalar_subquery()
                    for m in (
                        *STATEFUL,
                        LedgerEntry,
                        ClaimEvidence,
                        StatementLine,
                        GroupSpend,
                        AuditEvent,
                        Notification,
                    )
                ),
                *(
                    select(func.coalesce(func.sum(column), 0)).scalar_subquery()
                    for column in (
                        Grant.available_fen,
                        Grant.held_fen,
                        Grant.locked_fen,
                        Grant.used_fen,
                        GroupSpend.committed_fen,
                        Programme.granted_fen,
                    )
                ),
            )
        ).one()
        states = db.session.execute(
            union_all(
                *(select(literal(m.__tablename__).label("t"), m.id, m.status) for m in STATEFUL)
            ).order_by("t", "id")
        ).all()
        db.session.rollback()  # end the read: the action starts its own transaction
        return (*totals, tuple(states), files_under(self.root))

    def attempt(self, name: str, action: Callable[[], object]) -> bool:
        """Run a use case as a view does: commit, or roll back on DomainError,
        which must then have written nothing. Anything else fails the test."""
        before = self.fingerprint()
        try:
            action()
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            assert self.fingerprint() == before, f"refused {name} wrote something"
            self.stats[f"{name} refused"] += 1
            self.stats[f"  {name}: {str(error)[:60]}"] += 1
            return False
        self.stats[name] += 1
        return True

    def orders(self, *statuses: str) -> list[Order]:
        found: list[Order] = []
        for model in (Booking, ServiceOrder):
            stmt = select(model).order_by(model.id)
            if statuses:
                stmt = stmt.where(model.status.in_(statuses))
            found.extend(db.session.scalars(stmt))
        return found

    def has_orders(self, *statuses: str) -> bool:
        return any(
            db.session.scalar(select(m.id).where(m.status.in_(statuses)).limit(1)) is not None
            for m in (Booking, ServiceOrder)
        )

    def live_orders(self) -> int:
        return sum(
            int(db.session.scalar(select(func.count()).where(m.status.in_(LIVE_ORDER))) or 0)
            for m in (Booking, ServiceOrder)
        )

    def exists(self, model: type[Any], *where: Any) -> bool:
        return db.session.scalar(select(model.id).where(*where).limit(1)) is not None

    def staff_of(self, order: Order) -> User:
        provider = (
            order.instrument.provider_id
            if isinstance(order, Booking)
            else order.service_item.provider_id
        )
        return self.user(self.staff[provider])

    def payee_user(self, use: VoucherUse) -> User:
        payee = claims.payee_id_of(use)
        if payee in self.staff:
            return self.user(self.staff[payee])
        return self.user(self.firm_user_of[payee])

    def details(self, use: VoucherUse, charge: int | None, defect: str) -> claims.ClaimDetails:
        payee = db.session.get_one(Organization, claims.payee_id_of(use))
        self.invoice += 1
        return claims.ClaimDetails(
            invoice_number=f"SM{self.runs:04d}{self.invoice:05d}",
            invoice_amount_fen=(charge or 0) + (1 if defect == "amount" else 0),
            payee_account_name=payee.name_zh + ("有限公司" if defect == "account" else ""),
            payee_bank="中国银行上海嘉定支行",
            payee_account_no="6216 6000 0000 0000 001",
        )

    # --- grants ---------------------------------------------------------------------------

    def _apply(self, firm: int, thousands: int) -> Grant:
        user = self.user(self.firm_users[firm])
        application = programmes.Application(
            amount_fen=thousands * YUAN_1000,
            category="tech_sme",
            certificate_no="GR202631000123",
            certificate_valid_from=date(2025, 1, 1),
            certificate_valid_until=date(2027, 12, 31),
            purpose="材料表征",
        )
        return programmes.apply_for_grant(
            user,
            self.programme_id,
            application,
            programmes.Evidence(io.BytesIO(PDF), "高新证书.pdf"),
            self.root / "grants",
            self.now,
        )

    @precondition(lambda self: count(Grant) < 4)
    @rule(firm=st.integers(0, 2), thousands=st.integers(1, 45))
    def apply(self, firm: int, thousands: int) -> None:
        self.attempt("apply", lambda: self._apply(firm, thousands))

    @precondition(lambda self: self.exists(Grant, Grant.status == GrantStatus.SUBMITTED))
    @rule(
        pick=st.integers(0, 99),
        decision=st.tuples(
            st.sampled_from(["full", "full", "less", "more", "reject"]), st.integers(0, 99)
        ),
    )
    def decide_grant(self, pick: int, decision: tuple[str, int]) -> None:
        """The authority approves (maybe less; refused beyond the request, the
        firm's cap or the budget) or rejects an application."""
        verdict, percent = decision
        pending = list(
            db.session.scalars(
                select(Grant.id).where(Grant.status == GrantStatus.SUBMITTED).order_by(Grant.id)
            )
        )
        if not pending:
            return
        grant_id = pending[pick % len(pending)]
        requested = db.session.get_one(Grant, grant_id).requested_fen
        officer = self.user(self.authority_user)
        if verdict == "reject":
            self.attempt(
                "reject grant",
                lambda: programmes.reject_grant(officer, grant_id, "材料不全", self.now),
            )
            return
        amount = {
            "full": None,
            "less": requested * percent // 100,  # 0 is refused
            "more": requested + 1,
        }[verdict]
        self.attempt(
            "approve grant", lambda: programmes.approve_grant(officer, grant_id, self.now, amount)
        )

    # --- orders ---------------------------------------------------------------------------

    def payment(self, firm: int, pay: int) -> str:
        if pay < 0:
            return ""
        mine = select(Grant.id).where(Grant.enterprise_id == self.firm_ids[firm])
        if pay < 6:  # mostly an approved grant of the firm, if it has one
            mine = mine.where(Grant.status == GrantStatus.APPROVED)
        elif pay >= 11:  # now and then any grant: another firm's is not found
            mine = select(Grant.id)
        pool = list(db.session.scalars(mine.order_by(Grant.id)))
        if not pool:
            return "" if pay < 11 else "grant:2147483646"
        return f"grant:{pool[pay % len(pool)]}"

    @precondition(lambda self: self.live_orders() < 3)  # a small backlog, then move it on
    @rule(
        firm=st.integers(0, 2),
        spec=st.builds(
            Placement,
            where=st.sampled_from(["approval", "instant", "service"]),
            day=st.sampled_from([1, 2, 3, 5, 6, 0]),  # 0: inside the lead time
            hour=st.integers(8, 16),
            hours=st.integers(1, 4),
            week=st.integers(0, 3),
            pay=st.integers(-1, 12),
        ),
    )
    def place(self, firm: int, spec: Placement) -> None:
        """A booking (instrument needing approval, or instant-confirm at the
        other region's provider) or a service order, paid partly by a grant."""
        where, day, hour, hours, week, pay = spec
        user = self.user(self.firm_users[firm])
        payment = self.payment(firm, pay)
        name = "place" if payment else "place (own money)"
        if where == "service":
            monday = so.week_choices(self.now)[week]
            self.attempt(
                name,
                lambda: so.place_service_order(
                    user, self.item, 1 + 3 * hours, monday, "拉伸试验", "钢板", None, self.now,
                    payment=payment,
                ),
            )  # fmt: skip
            return
        start = at_local(local(self.now).date() + timedelta(days=day), time(hour))
        request = BookingRequest(
            instrument_id=self.approval if where == "approval" else self.instant,
            service_mode="entrusted",
            starts_at=start,
            ends_at=start + timedelta(hours=hours),
            payment=payment,
        )
        self.attempt(name, lambda: orders.place_booking(user, request, self.now))

    @precondition(lambda self: self.has_orders(*LIVE_ORDER))
    @rule(
        move=st.builds(
            OrderMove,
            pick=st.integers(0, 99),
            stages=st.integers(1, 3),
            step=st.sampled_from(["forward", "forward", "forward", "back"]),
            late=st.integers(-50, 50),
            overrun=st.integers(-30, 90),
            rating=st.sampled_from([5, 4, 3, 1, 0]),  # 0 is refused
        )
    )
    def progress_order(self, move: OrderMove) -> None:
        """Move one live order on, up to `stages` times (the invariants are
        checked after each): the provider accepts or rejects a request, the
        firm cancels, the service is delivered, the firm confirms it."""
        pick, stages, step, late, overrun, rating = move
        live = self.orders(*LIVE_ORDER)
        if not live:  # the precondition; the walk below calls rules directly
            return
        order = live[pick % len(live)]
        for stage in range(stages):
            if stage:
                self.check()
                if order.status not in LIVE_ORDER:
                    return
            staff = self.staff_of(order)
            firm = self.user(order.user_id)
            if order.status == OrderStatus.COMPLETED:
                done = self.confirm(order, firm, rating)
            elif order.status == OrderStatus.REQUESTED and step == "forward":
                done = self.accept(order, staff)
            elif order.status == OrderStatus.REQUESTED and late < 0:
                done = self.reject(order, staff, "排期冲突" if late > -45 else " ")
            elif order.status == OrderStatus.CONFIRMED and step == "forward":
                done = self.deliver(order, staff, late, overrun)
            else:
                done = self.cancel(order, firm)
            if not done:
                return

    def accept(self, order: Order, staff: User) -> bool:
        if isinstance(order, Booking):
            return self.attempt("accept", lambda: orders.approve_booking(order, staff, self.now))
        return self.attempt("accept", lambda: so.accept_service_order(order, staff, self.now))

    def reject(self, order: Order, staff: User, reason: str) -> bool:
        if isinstance(order, Booking):
            return self.attempt(
                "reject", lambda: orders.reject_booking(order, staff, reason, self.now)
            )
        return self.attempt(
            "reject", lambda: so.reject_service_order(order, staff, reason, self.now)
        )

    def cancel(self, order: Order, firm: User) -> bool:
        if isinstance(order, Booking):
            return self.attempt("cancel", lambda: orders.cancel_booking(order, firm, "", self.now))
        return self.attempt("cancel", lambda: so.cancel_service_order(order, firm, "", self.now))

    def deliver(self, order: Order, staff: User, late: int, overrun: int) -> bool:
        """上机 then 下机 (the clock moves to the slot), or samples received
        then tested; the invariants are checked in between."""
        if isinstance(order, ServiceOrder):
            if not self.attempt("receive", lambda: so.receive_samples(order, staff, self.now)):
                return False
            self.check()
            samples = max(1, order.quantity - max(0, overrun) // 10)  # a part untested
            return self.attempt(
                "complete",
                lambda: so.complete_service_order(
                    order,
                    staff,
                    samples,
                    io.BytesIO(PDF),
                    "报告.pdf",
                    self.root / "reports",
                    self.now,
                ),
            )
        self.now = max(self.now, order.starts_at + timedelta(minutes=late))
        if not self.attempt("check in", lambda: orders.check_in(order, staff, self.now)):
            return False
        self.check()
        checked_in = order.checked_in_at
        assert checked_in is not None
        out = max(order.ends_at + timedelta(minutes=overrun), checked_in + timedelta(minutes=30))
        self.now = max(self.now, out)
        return self.attempt(
            "record usage", lambda: orders.record_usage(order, staff, out, self.now)
        )

    def confirm(self, order: Order, firm: User, rating: int) -> bool:
        if isinstance(order, Booking):
            return self.attempt(
                "confirm", lambda: orders.confirm_booking(order, firm, rating, "", self.now)
            )
        return self.attempt(
            "confirm", lambda: so.confirm_service_order(order, firm, rating, "", self.now)
        )

    @rule(
        hours=st.sampled_from([1, 3, 12, 24, 24, 48, 168]),
        jobs=st.sampled_from(["all", "all", "orders", "vouchers"]),
    )
    def tick(self, hours: int, jobs: str) -> None:
        """Time passes and the scheduler runs its sweeps: requests expire,
        no-shows, auto-close; the voucher jobs (programme end, claim
        deadline) and the balance check."""
        self.now += timedelta(hours=hours)
        if jobs != "vouchers":
            order_jobs.expire_requests(self.now)
            order_jobs.mark_no_shows(self.now)
            order_jobs.close_unconfirmed(self.now)
            db.session.commit()
        if jobs == "orders":
            return
        closed = voucher_jobs.expire_grants(self.now)
        expired = voucher_jobs.expire_unclaimed(self.now)
        db.session.commit()
        self.stats["grants closed by job"] += closed["closed"]
        self.stats["unclaimed uses expired by job"] += expired
        assert voucher_jobs.verify_balances(self.now) == 0
        db.session.rollback()

    # --- claims and settlement ------------------------------------------------------------

    @precondition(
        lambda self: (
            self.exists(
                VoucherUse,
                VoucherUse.status == UseStatus.USED,
                ~select(Claim.id).where(Claim.voucher_use_id == VoucherUse.id).exists(),
            )
            or self.exists(
                Claim,
                Claim.status.in_((ClaimStatus.SUBMITTED, ClaimStatus.RETURNED, ClaimStatus.PAID)),
            )
        )
    )
    @rule(
        move=st.builds(
            ClaimMove,
            pick=st.integers(0, 99),
            defect=st.sampled_from(
                ["none", "none", "none", "none", "amount", "account", "files", "stranger", "twice"]
            ),
            verdict=st.sampled_from(
                ["approve", "approve", "approve", "return", "void", "claw back"]
            ),
            decide=st.booleans(),
        )
    )
    def progress_claim(self, move: ClaimMove) -> None:
        """The payee files a claim on a used share (with its evidence, now
        and then defective; with `decide` the authority then decides it), or
        resubmits a returned one; the authority approves, returns or voids a
        submitted one, or claws a paid one back."""
        pick, defect, verdict, decide = move
        unclaimed = ~select(Claim.id).where(Claim.voucher_use_id == VoucherUse.id).exists()
        if defect == "twice":  # a second claim on a claimed use
            unclaimed = ~unclaimed
        uses = list(
            db.session.scalars(
                select(VoucherUse.id)
                .where(VoucherUse.status == UseStatus.USED, unclaimed)
                .order_by(VoucherUse.id)
            )
        )
        open_claims = list(
            db.session.scalars(
                select(Claim.id)
                .where(
                    Claim.status.in_(
                        (ClaimStatus.SUBMITTED, ClaimStatus.RETURNED, ClaimStatus.PAID)
                    )
                )
                .order_by(Claim.id)
            )
        )
        everything = [("use", i) for i in uses] + [("claim", i) for i in open_claims]
        if not everything:
            return
        what, ident = everything[pick % len(everything)]
        if what == "use":
            if not self.file(ident, defect) or not decide:
                return
            self.check()
            filed = db.session.scalar(select(Claim.id).where(Claim.voucher_use_id == ident))
            assert filed is not None
            ident = filed
        self.decide_claim(ident, verdict)

    def decide_claim(self, claim_id: int, verdict: str) -> None:
        claim = db.session.get_one(Claim, claim_id)
        officer = self.user(self.authority_user)
        if claim.status == ClaimStatus.RETURNED:
            use = claim.use
            details = self.details(use, claims.usage_record(use).charge_fen, "none")
            actor = self.payee_user(use)
            self.attempt(
                "resubmit claim",
                lambda: claims.resubmit_claim(
                    claim_id, actor, details, {}, self.root / "claims", self.now
                ),
            )
        elif claim.status == ClaimStatus.PAID or verdict == "claw back":
            self.attempt(  # refused unless paid
                "claw back",
                lambda: claims.claw_back_claim(claim_id, officer, "重复申报", self.now),
            )
        elif verdict == "approve":
            self.attempt("approve claim", lambda: claims.approve_claim(claim_id, officer, self.now))
        elif verdict == "return":
            self.attempt(
                "return claim",
                lambda: claims.return_claim(claim_id, officer, "发票抬头有误", self.now),
            )
        else:
            self.attempt(
                "void claim", lambda: claims.void_claim(claim_id, officer, "虚假交易", self.now)
            )

    def file(self, use_id: int, defect: str) -> bool:
        use = db.session.get_one(VoucherUse, use_id)
        record = claims.usage_record(use)
        details = self.details(use, record.charge_fen, defect)
        kinds = ("contract", "invoice") if defect == "files" else claims.REQUIRED_UPLOADS
        uploads: dict[str, claims.Upload | None] = {
            str(k): claims.Upload(io.BytesIO(PDF), f"{k}.pdf") for k in kinds
        }
        actor = self.user(self.stranger) if defect == "stranger" else self.payee_user(use)
        return self.attempt(
            "file claim",
            lambda: claims.file_claim(
                use_id, actor, details, uploads, self.root / "claims", self.now
            ),
        )

    @precondition(
        lambda self: (
            self.exists(Claim, Claim.status == ClaimStatus.APPROVED, Claim.batch_id.is_(None))
            or self.exists(SettlementBatch, SettlementBatch.status == BatchStatus.CLOSED)
        )
    )
    @rule(
        which=st.sampled_from(["jump", "jump", "closed", "current", "catch-up", "pay", "pay"]),
        pick=st.integers(0, 99),
    )
    def settle(self, which: str, pick: int) -> None:
        """Close a settlement period (`jump` first moves the clock past the
        current one; the current one is refused), the catch-up job, or
        record a batch's payment (a paid batch is refused)."""
        if which == "pay":
            batches = list(
                db.session.scalars(select(SettlementBatch.id).order_by(SettlementBatch.id))
            )
            if batches:
                batch_id = batches[pick % len(batches)]
                officer = self.user(self.authority_user)
                self.attempt(
                    "pay",
                    lambda: settlement.record_payment(
                        batch_id, officer, f"PAY{batch_id}", self.now
                    ),
                )
            return
        if which == "jump":
            self.now = max(
                self.now, settlement.period_of(self.now, self.cycle).ends_at + timedelta(hours=1)
            )
        if which == "catch-up":
            done = voucher_jobs.settle(self.now)
            db.session.commit()
            self.stats["settled by catch-up"] += done["batches"]
            return
        period = (
            settlement.period_of(self.now, self.cycle)  # not ended: refused
            if which == "current"
            else settlement.last_closed(self.now, self.cycle)
        )
        self.attempt("settle", lambda: settlement.settle(period, self.now))

    # --- invariants -----------------------------------------------------------------------

    def check(self) -> None:
        """Every invariant, between the actions of one rule."""
        self.grants_balance()
        self.programme_within_budget()
        self.shares_within_rules()
        self.money_follows_orders()
        self.claims_and_batches()
        self.end_of_step()

    @invariant()
    def grants_balance(self) -> None:
        """Buckets non-negative, summing to the approved amount; held within
        available; the cache equals the ledger and the uses."""
        grants = list(db.session.scalars(select(Grant).order_by(Grant.id)))
        for g in grants:
            buckets = (g.available_fen, g.held_fen, g.locked_fen, g.used_fen)
            assert min(*buckets, g.expired_fen, g.voided_fen) >= 0, g.id
            total = g.available_fen + g.locked_fen + g.used_fen + g.expired_fen + g.voided_fen
            assert total == (g.approved_fen or 0), g.id
            assert g.held_fen <= g.available_fen, g.id
            if g.approved_fen is None:
                assert g.status in (GrantStatus.SUBMITTED, GrantStatus.REJECTED)
        assert ledger.mismatches() == []
        by_grant: dict[int, dict[str, int]] = {}
        for grant_id, status, share, used in db.session.execute(
            select(
                VoucherUse.grant_id, VoucherUse.status, VoucherUse.share_fen, VoucherUse.used_fen
            )
        ):
            row = by_grant.setdefault(grant_id, {"held": 0, "locked": 0, "used": 0, "spent": 0})
            if status == UseStatus.HELD:
                row["held"] += share
            elif status == UseStatus.LOCKED:
                row["locked"] += share
            elif status == UseStatus.USED:
                assert used is not None, grant_id
                row["used"] += used
            row["spent"] += used or 0
        for g in grants:
            row = by_grant.get(g.id, {"held": 0, "locked": 0, "used": 0, "spent": 0})
            assert (g.held_fen, g.locked_fen, g.used_fen) == (
                row["held"],
                row["locked"],
                row["used"],
            ), g.id
            assert row["spent"] <= (g.approved_fen or 0), g.id

    @invariant()
    def programme_within_budget(self) -> None:
        programme = db.session.get_one(Programme, self.programme_id, populate_existing=True)
        approved = db.session.scalar(
            select(func.coalesce(func.sum(Grant.approved_fen), 0)).where(
                Grant.programme_id == programme.id
            )
        )
        assert 0 <= programme.granted_fen <= programme.budget_fen
        assert programme.granted_fen == approved
        for enterprise_id, total in db.session.execute(
            select(Grant.enterprise_id, func.sum(Grant.approved_fen))
            .where(Grant.approved_fen.is_not(None))
            .group_by(Grant.enterprise_id)
        ):
            assert int(total or 0) <= programme.enterprise_cap_fen, enterprise_id

    @invariant()
    def shares_within_rules(self) -> None:
        programme = db.session.get_one(Programme, self.programme_id)
        for use in db.session.scalars(select(VoucherUse)):
            percent = int(use.rules["subsidy_percent"])
            assert 0 < use.share_fen <= subsidised(use.price_fen, percent), use.id
            cap = use.rules.get("order_cap_fen")
            if cap is not None:
                assert use.share_fen <= cap, use.id
            if use.used_fen is not None:
                assert 0 <= use.used_fen <= use.share_fen, use.id
        # The controller group: the counter stays within its cap and equals
        # what its firms' uses commit: a live share, a used amount; a share
        # ended by its order gives everything back. The programme-end job
        # leaves the counters alone (nothing can spend from an ended
        # programme), so a share it released or expired still counts.
        given_back = set(
            db.session.scalars(
                select(AuditEvent.object_id).where(
                    AuditEvent.object_type == "voucher_use",
                    AuditEvent.action.in_(("voucher_use.release", "voucher_use.use")),
                    AuditEvent.to_state == UseStatus.RELEASED,
                )
            )
        )
        owed: Counter[str] = Counter()
        for use_id, key, status, share, used in db.session.execute(
            select(
                VoucherUse.id,
                VoucherUse.controller_key,
                VoucherUse.status,
                VoucherUse.share_fen,
                VoucherUse.used_fen,
            ).where(VoucherUse.controller_key.is_not(None))
        ):
            if status == UseStatus.RELEASED:
                owed[str(key)] += 0 if use_id in given_back else share
            else:
                owed[str(key)] += share if used is None else used
        committed = {
            key: (cap, spent)
            for key, cap, spent in db.session.execute(
                select(GroupSpend.controller_key, GroupSpend.cap_fen, GroupSpend.committed_fen)
            )
        }
        for key, (cap, spent) in committed.items():
            assert 0 <= spent <= cap, key
            assert cap == programme.group_cap_fen
            assert spent == owed[key], (key, spent, owed[key])
        if programme.group_cap_fen is None:
            assert committed == {}
        else:
            assert set(owed) <= set(committed)

    @invariant()
    def money_follows_orders(self) -> None:
        """No share stays held or locked on an order that has ended, and a
        held share waits only for a provider's decision."""
        for use, booking_status, order_status in db.session.execute(
            select(VoucherUse, Booking.status, ServiceOrder.status)
            .outerjoin(Booking, Booking.id == VoucherUse.booking_id)
            .outerjoin(ServiceOrder, ServiceOrder.id == VoucherUse.service_order_id)
        ):
            status = booking_status or order_status
            if status in ENDED:
                assert use.status not in LIVE_USE, (use.id, status, use.status)
            if use.status == UseStatus.HELD:
                assert status == OrderStatus.REQUESTED, (use.id, status)

    @invariant()
    def claims_and_batches(self) -> None:
        uses_with_claims = db.session.execute(
            select(Claim.voucher_use_id, func.count())
            .group_by(Claim.voucher_use_id)
            .having(func.count() > 1)
        ).all()
        assert uses_with_claims == []
        expected = {
            ClaimStatus.SUBMITTED: {UseStatus.USED},
            ClaimStatus.APPROVED: {UseStatus.USED},
            ClaimStatus.PAID: {UseStatus.USED},
            ClaimStatus.RETURNED: {UseStatus.USED, UseStatus.EXPIRED},
            ClaimStatus.VOIDED: {UseStatus.VOIDED},
            ClaimStatus.CLAWED_BACK: {UseStatus.VOIDED},
        }
        batches = {b.id: b for b in db.session.scalars(select(SettlementBatch))}
        in_batch: Counter[int] = Counter()
        total: Counter[int] = Counter()
        for claim, use in db.session.execute(
            select(Claim, VoucherUse).join(VoucherUse, VoucherUse.id == Claim.voucher_use_id)
        ):
            assert use.status in expected[ClaimStatus(claim.status)], (claim.id, use.status)
            assert claim.amount_fen == use.used_fen, claim.id
            assert claim.payee_id == claims.payee_id_of(use), claim.id
            if claim.batch_id is None:
                assert claim.status != ClaimStatus.PAID, claim.id
                continue
            batch = batches[claim.batch_id]
            assert claim.authority_id == batch.authority_id
            assert claim.status in (
                ClaimStatus.APPROVED,
                ClaimStatus.PAID,
                ClaimStatus.CLAWED_BACK,
            ), claim.id
            assert claim.approved_at is not None
            assert claim.approved_at < settlement.parse_period(batch.period).ends_at
            assert (claim.status == ClaimStatus.APPROVED) == (batch.status == BatchStatus.CLOSED), (
                claim.id
            )
            in_batch[batch.id] += 1
            total[batch.id] += claim.amount_fen
        periods = Counter((b.authority_id, b.period) for b in batches.values())
        assert max(periods.values(), default=1) == 1
        for batch in batches.values():
            assert batch.claim_count == in_batch[batch.id] > 0, batch.id
            assert batch.total_fen == total[batch.id], batch.id
            lines = db.session.scalar(
                select(func.coalesce(func.sum(StatementLine.amount_fen), 0)).where(
                    StatementLine.batch_id == batch.id
                )
            )
            assert lines == batch.total_fen, batch.id

    @invariant()
    def end_of_step(self) -> None:
        """Leave no transaction open between steps (rules start fresh ones)."""
        db.session.rollback()


@pytest.fixture
def factories(
    make_region: Callable[..., Region],
    make_org: Callable[..., Organization],
    make_user: Callable[..., User],
    make_service_item: Callable[..., ServiceItem],
    tmp_path: Path,
) -> Factories:
    return Factories(make_region, make_org, make_user, make_service_item, tmp_path)


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
def test_voucher_state_machine(app: Flask, factories: Factories) -> None:
    VoucherMachine.factories = factories
    VoucherMachine.stats = Counter()
    runner = VoucherMachine.TestCase
    runner.settings = settings(
        max_examples=15,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    runner().runTest()
    print(dict(sorted(VoucherMachine.stats.items())))
    assert VoucherMachine.stats["place"] > 0  # orders were paid with grants


def test_voucher_machine_walks_the_whole_path(factories: Factories) -> None:
    """The machine's rules in a fixed order, invariants checked after each:
    every stage of the voucher money's life is reached, whatever Hypothesis
    happens to draw in the random run above."""
    VoucherMachine.factories = factories
    VoucherMachine.stats = Counter()
    machine = VoucherMachine()
    machine.world(
        mode=RedemptionMode.PROVIDER_REDEEMS,
        percent=50,
        cycle=SettlementCycle.MONTHLY,
        order_cap=1_000_000,
        group_cap=2_000_000,
        valid_days=30,
        claim_days=20,
    )
    machine.check()
    steps: list[Callable[[], object]] = [
        # Firm 1 asks ¥30,000; ¥15,000 of the budget is left: refused, then half.
        lambda: machine.apply(1, 30),
        lambda: machine.decide_grant(0, ("full", 0)),
        lambda: machine.decide_grant(0, ("less", 50)),
        # Firms 0 and 1 share a controller and its ¥20,000 cap: ¥10,000 (the
        # order cap) on firm 0's ten samples, ¥10,000 on firm 1's three
        # hours; then firm 0's booking is refused the voucher, and pays itself.
        lambda: machine.place(0, Placement("service", 1, 8, 3, 1, 0)),
        lambda: machine.place(1, Placement("instant", 2, 9, 3, 0, 0)),
        lambda: machine.place(0, Placement("approval", 2, 9, 2, 0, 0)),
        lambda: machine.place(0, Placement("approval", 2, 9, 2, 0, -1)),
        lambda: machine.place(2, Placement("instant", 3, 9, 2, 0, 0)),
        lambda: machine.place(2, Placement("instant", 4, 9, 1, 0, 0)),  # never claimed
        # Delivered (only four samples tested: ¥6,000 used, ¥4,000 back) and confirmed.
        *[lambda: machine.progress_order(OrderMove(0, 3, "forward", 0, 60, 5))] * 8,
        lambda: machine.place(2, Placement("instant", 5, 9, 2, 0, 0)),
        lambda: machine.progress_order(OrderMove(0, 1, "back", 0, 0, 5)),  # cancelled
        *[lambda: machine.progress_claim(ClaimMove(0, "none", "approve", True))] * 3,
        lambda: machine.settle("current", 0),  # refused: the month has not ended
        lambda: machine.settle("jump", 0),
        lambda: machine.settle("pay", 0),
        lambda: machine.progress_claim(ClaimMove(1, "none", "claw back", False)),  # a paid one
        lambda: machine.tick(24, "all"),  # the programme has ended: grants close
        *[lambda: machine.tick(168, "vouchers")] * 3,  # the claim deadline has passed
    ]
    for step in steps:
        step()
        machine.check()
    stats = machine.stats
    for reached in (
        "apply",
        "approve grant refused",
        "approve grant",
        "place",
        "accept",
        "check in",
        "record usage",
        "receive",
        "complete",
        "confirm",
        "cancel",
        "file claim",
        "approve claim",
        "settle refused",
        "settle",
        "pay",
        "claw back",
        "grants closed by job",
        "unclaimed uses expired by job",
    ):
        assert stats[reached] > 0, (reached, sorted(stats.items()))
    assert stats["  place: 同一实际控制人名下企业的创新券额度已达上限，余额不足。"] == 1
    group = db.session.scalar(select(GroupSpend).where(GroupSpend.controller_key == CONTROLLER))
    assert group is not None and group.committed_fen == 1_600_000
