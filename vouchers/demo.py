"""The demo alliance's innovation vouchers (双创券), loaded at the end of
`booking.demo.seed`.

One programme of the current fiscal year per authority (嘉定区 通兑 50 %
monthly, 苏州市 通兑 40 % quarterly, 温州市 通用 60 % monthly) recognising every
verified provider of the alliance; grants for the firms of the demo order
history (one suspended), applications waiting in Jiading's queue and one
rejected; voucher uses on those firms' demo bookings, played through the
order's own history (held when placed, locked when accepted, used when the
firm confirmed, released when it ended without service); the payees'
claims with their evidence PDFs, reviewed by the authorities; and one
settlement batch per closed period, paid but the last one.

Programmes, applications, grant decisions, settlement and payments go
through the real services (`vouchers.programmes`, `vouchers.settlement`) at
the moments they happened. The uses and claims are the history's bulk: each
share is decided by `spending.evaluate` and `spending.rules_snapshot` at its
booking's placing, the money is replayed in time order, and the rows the
services would write for the same transitions (uses, ledger entries, audit
events, claims and their evidence PDFs through `store_pdf`) go in by
multi-row INSERTs, the grants' cached balances and the controller groups'
counters set to match (`ledger.mismatches()` stays empty). No notifications
are sent for that history; the services' own ones are.

Idempotent by natural keys: programme (authority, code), grant
(idempotency key "demo-g-…"); the uses, claims ("demo-c-…", invoices
"DEMO-…") and batches are made together, once, and skipped as a whole as
soon as any demo booking has a voucher use. Flushes, never commits.
"""

from __future__ import annotations

import io
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from flask import current_app
from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import selectinload

from booking.accounts.models import (
    EnterpriseCategory,
    Organization,
    OrgKind,
    User,
    UserRole,
)
from booking.audit.models import AuditEvent
from booking.core.uploads import store_pdf
from booking.demo import BOOKING_KEY, DEMO_LOGINS, Progress, SeedSummary
from booking.extensions import db
from booking.orders.clock import at_local, local
from booking.orders.models import Booking, OrderStatus
from instruments import demo_data
from instruments.models import Instrument
from vouchers import claims as claim_services
from vouchers import ledger, settlement, spending
from vouchers import programmes as programme_services
from vouchers.models import (
    Bucket,
    Claim,
    ClaimEvidence,
    ClaimStatus,
    EntryKind,
    EvidenceKind,
    Grant,
    GrantStatus,
    GroupSpend,
    LedgerEntry,
    Programme,
    RedemptionMode,
    ServiceKind,
    SettlementBatch,
    SettlementCycle,
    UseStatus,
    VoucherUse,
)

GRANT_KEY = "demo-g-"
CLAIM_KEY = "demo-c-"
INVOICE_PREFIX = "DEMO-"
APPLICANT_EMAIL = "vouchers.{key}@demo.yrd"
YUAN = 100  # fen

DEMO_FIRM = "enterprise:demo-jiading"
DEMO_FIRM_SUZHOU = "enterprise:demo-suzhou"
DEMO_FIRM_GRANT_FEN = 100_000 * YUAN
PENDING_APPLICATIONS = 4  # waiting in Jiading's queue
# Of the other firms' bookings, the share paid in part with vouchers (the
# demo firms pay every order they can with theirs).
OTHER_FIRMS_VOUCHER_SHARE = 0.3
CLAIM_SHARE = 0.85  # of the used uses whose payee has a sign-in
# A claim is filed 1–6 days after the firm confirmed; reviewed 1–8 days later.
CLAIM_AFTER_DAYS = (1, 6)
REVIEW_AFTER_DAYS = (1, 8)
QUEUE_DAYS = 6  # claims filed in the last days are not reviewed yet
SETTLE_AFTER_DAYS = 2  # a period is closed two days after it ends
PAY_AFTER_DAYS = 12  # and paid about twelve days after that


@dataclass(frozen=True)
class ProgrammeSpec:
    region: str
    code: str  # "{year}" filled in
    name_zh: str
    name_en: str
    mode: str
    subsidy_percent: int
    budget_yuan: int
    enterprise_cap_yuan: int
    order_cap_yuan: int | None
    group_cap_yuan: int | None
    cycle: str
    grant_choices_yuan: tuple[int, ...]  # what the firms ask for


PROGRAMMES: tuple[ProgrammeSpec, ...] = (
    ProgrammeSpec(
        "jiading",
        "JD-TD-{year}",
        "{year}年度嘉定区科技创新券（通兑）",
        "Jiading {year} innovation vouchers (provider redeems)",
        RedemptionMode.PROVIDER_REDEEMS,
        50,
        8_000_000,
        500_000,
        20_000,
        650_000,
        SettlementCycle.MONTHLY,
        (100_000, 150_000, 200_000, 300_000),
    ),
    ProgrammeSpec(
        "suzhou",
        "SZ-TD-{year}",
        "{year}年度苏州市科技创新券（通兑）",
        "Suzhou {year} innovation vouchers (provider redeems)",
        RedemptionMode.PROVIDER_REDEEMS,
        40,
        12_000_000,
        300_000,
        30_000,
        600_000,
        SettlementCycle.QUARTERLY,
        (80_000, 100_000, 150_000, 200_000),
    ),
    ProgrammeSpec(
        "wenzhou",
        "WZ-TY-{year}",
        "{year}年度温州市科技创新券（通用）",
        "Wenzhou {year} innovation vouchers (firm reimbursed)",
        RedemptionMode.FIRM_REIMBURSED,
        60,
        5_000_000,
        100_000,
        20_000,
        None,
        SettlementCycle.MONTHLY,
        (50_000, 80_000, 100_000),
    ),
)

_PURPOSES = (
    "新产品研发过程中的材料成分分析与结构表征",
    "产品质量一致性检测及失效分析",
    "新工艺验证所需的大型仪器机时",
    "委托第三方检测机构开展型式试验前的摸底测试",
    "研发样品微观形貌与元素分布表征",
    "电池材料与零部件可靠性测试",
)
_SUSPEND_REASON = "近期订单存在疑似拆单情况，暂停使用，待核查后恢复。"
_REJECT_REASON = "申请材料中的科技型中小企业入库编号与国家库登记信息不一致，请核实后重新申请。"
_RETURN_REASON = "上传的发票金额与合同金额不一致，请核对后重新上传发票。"
_BANKS = {
    "jiading": "中国工商银行上海市嘉定支行",
    "suzhou": "中国建设银行苏州工业园区支行",
    "wenzhou": "中国农业银行温州鹿城支行",
}


def seed_vouchers(
    orgs: dict[str, Organization], summary: SeedSummary, say: Progress, now: datetime
) -> None:
    """Create whatever part of the demo's vouchers is missing (see module doc)."""
    before = _totals()
    users = {
        u.email: u
        for u in db.session.scalars(
            select(User).where(User.email.in_([d.email for d in DEMO_LOGINS]))
        )
    }
    authorities = {
        spec.region: users.get(f"authority.{spec.region}@demo.yrd") for spec in PROGRAMMES
    }
    wanted = [s for s in PROGRAMMES if authorities[s.region] is not None]
    if not wanted:
        return
    year = local(now).year
    rng = random.Random(f"{demo_data.SEED}-vouchers")  # noqa: S311 -- demo data, not secrets
    programmes = _seed_programmes(wanted, authorities, year, now)
    grants, suspensions = _seed_grants(orgs, programmes, users, rng, year, now, summary)
    db.session.flush()
    if not _history_done():
        history = _History(programmes, grants, suspensions, users, rng, now)
        history.play()
        if history.refused:
            say(f"vouchers: {sum(history.refused.values())} uses refused: {dict(history.refused)}")
    deciders = {u.organization_id: u for u in authorities.values() if u is not None}
    for grant in grants:
        if grant.id in suspensions:
            actor = deciders[grant.programme.authority_id]
            programme_services.suspend_grant(
                actor, grant.id, _SUSPEND_REASON, suspensions[grant.id]
            )
    db.session.flush()
    after = _totals()
    for kind, total in after.items():
        if total > before.get(kind, 0):
            summary.add(kind, total - before.get(kind, 0))
    summary.totals.update(after)
    # Applicants' sign-ins were added after booking.demo counted its users.
    summary.totals["users"] = int(db.session.scalar(select(func.count(User.id))) or 0)
    say(
        f"vouchers: {after['voucher programmes']} programmes, {after['voucher grants']} grants, "
        f"{after['voucher uses']} uses, {after['voucher claims']} claims, "
        f"{after['settlement batches']} batches"
    )


def _totals() -> dict[str, int]:
    def count(model: Any) -> int:
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)

    return {
        "voucher programmes": count(Programme),
        "voucher grants": count(Grant),
        "voucher uses": count(VoucherUse),
        "voucher ledger entries": count(LedgerEntry),
        "voucher claims": count(Claim),
        "settlement batches": count(SettlementBatch),
    }


# --- programmes ---------------------------------------------------------------------------


def _seed_programmes(
    specs: list[ProgrammeSpec],
    authorities: dict[str, User | None],
    year: int,
    now: datetime,
) -> dict[str, Programme]:
    """Each authority's programme of `year`, by region code."""
    providers = [p.id for p in programme_services.recognisable_providers()]
    out: dict[str, Programme] = {}
    for spec in specs:
        actor = authorities[spec.region]
        assert actor is not None
        code = spec.code.format(year=year)
        programme = db.session.scalar(
            select(Programme).where(
                Programme.authority_id == actor.organization_id, Programme.code == code
            )
        )
        if programme is None:
            data = programme_services.ProgrammeInput(
                code=code,
                name_zh=spec.name_zh.format(year=year),
                name_en=spec.name_en.format(year=year),
                fiscal_year=year,
                budget_fen=spec.budget_yuan * YUAN,
                subsidy_percent=spec.subsidy_percent,
                enterprise_cap_fen=spec.enterprise_cap_yuan * YUAN,
                order_cap_fen=_fen(spec.order_cap_yuan),
                group_cap_fen=_fen(spec.group_cap_yuan),
                mode=spec.mode,
                eligible_categories=[],
                eligible_kinds=[ServiceKind.INSTRUMENT_TIME, ServiceKind.TESTING_SERVICE],
                provider_ids=providers,
                applications_open_on=date(year, 1, 1),
                applications_close_on=date(year, 12, 31),
                valid_until=date(year, 12, 31),
                claim_deadline=date(year + 1, 3, 31),
                settlement_cycle=spec.cycle,
                split_window_days=30,
            )
            # Published in mid-December, before the year opens.
            published = min(now, at_local(date(year - 1, 12, 15), dt_time(10, 0)))
            programme = programme_services.create_programme(actor, data, published)
        out[spec.region] = programme
    return out


def _fen(yuan: int | None) -> int | None:
    return None if yuan is None else yuan * YUAN


# --- grants -------------------------------------------------------------------------------


@dataclass
class _Applicant:
    org: Organization
    user: User
    region: str
    outcome: str  # approved, suspended, submitted, rejected
    requested_fen: int
    approved_fen: int | None = None


def _booking_firms() -> dict[int, User]:
    """The firms of the demo order history, each with its booking user."""
    rows = db.session.execute(
        select(Booking.enterprise_id, func.min(Booking.user_id))
        .where(Booking.idempotency_key.like(f"{BOOKING_KEY}%"))
        .group_by(Booking.enterprise_id)
    ).all()
    ids = {user_id for _org, user_id in rows}
    found = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids)))}
    return {org_id: found[user_id] for org_id, user_id in rows if user_id in found}


def _applicants(
    orgs: dict[str, Organization],
    programmes: dict[str, Programme],
    users: dict[str, User],
    rng: random.Random,
    now: datetime,
    summary: SeedSummary,
) -> list[tuple[str, _Applicant]]:
    """(firm key, applicant) for every demo application, in a fixed order."""
    booking_firms = _booking_firms()
    demo_users = {
        DEMO_FIRM: users.get("enterprise@demo.yrd"),
        DEMO_FIRM_SUZHOU: users.get("enterprise.suzhou@demo.yrd"),
    }
    specs = {s.region: s for s in PROGRAMMES}
    out: list[tuple[str, _Applicant]] = []
    suspended = False
    for key in sorted(orgs, key=lambda k: (k not in demo_users, k)):
        org = orgs[key]
        if org.kind != OrgKind.ENTERPRISE or not org.is_verified:
            continue
        region = org.region.code
        if region not in programmes:
            continue
        user = demo_users.get(key) or booking_firms.get(org.id)
        if user is None or user.organization_id != org.id:
            continue
        choices = specs[region].grant_choices_yuan
        requested = rng.choice(choices) * YUAN
        approved = requested if rng.random() < 0.7 else requested * 4 // 5
        if key == DEMO_FIRM:
            requested = approved = DEMO_FIRM_GRANT_FEN
        elif key == DEMO_FIRM_SUZHOU:
            requested, approved = 200_000 * YUAN, 150_000 * YUAN
        outcome = "approved"
        if region == "jiading" and key not in demo_users and not suspended:
            suspended, outcome = True, "suspended"
        out.append((key, _Applicant(org, user, region, outcome, requested, approved)))
    # Jiading firms without a sign-in apply too: a few wait in the queue,
    # one was turned down. Each gets an applicant sign-in (the demo password).
    if "jiading" in programmes:
        taken = {a.org.id for _k, a in out}
        waiting = [
            key
            for key in sorted(orgs)
            if key.startswith("enterprise:jiading-")
            and orgs[key].is_verified
            and orgs[key].id not in taken
        ][: PENDING_APPLICATIONS + 1]
        template = users.get("enterprise@demo.yrd")
        for n, key in enumerate(waiting):
            if template is None:
                break
            org = orgs[key]
            user = _applicant_user(org, key.removeprefix("enterprise:"), template, now, summary)
            requested = rng.choice(specs["jiading"].grant_choices_yuan) * YUAN
            outcome = "rejected" if n == len(waiting) - 1 else "submitted"
            out.append((key, _Applicant(org, user, "jiading", outcome, requested)))
    return out


def _applicant_user(
    org: Organization, key: str, template: User, now: datetime, summary: SeedSummary
) -> User:
    email = APPLICANT_EMAIL.format(key=key)
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(
            organization=org,
            email=email,
            name=org.contact_name or org.name_zh,
            role=UserRole.ADMIN,
            locale="zh_Hans",
            active=True,
            password_hash=template.password_hash,
            password_changed_at=now,
            created_at=now,
        )
        db.session.add(user)
        db.session.flush()
        summary.add("users")
    return user


def _certificate(org: Organization, year: int) -> tuple[str, str, date, date]:
    """(category, certificate number, valid from, valid until) as the firm enters them."""
    category = org.enterprise_category or EnterpriseCategory.OTHER
    division = org.region.division_code
    uscc = org.uscc or org.name_zh
    serial = sum(ord(c) * 31**n for n, c in enumerate(uscc)) % 1_000_000
    if category == EnterpriseCategory.TECH_SME:
        # 科技型中小企业入库登记编号, valid for the year.
        return category, f"{year}{division}{serial:06d}"[:18], date(year, 1, 1), date(year, 12, 31)
    if category == EnterpriseCategory.HIGH_TECH:
        # 高新技术企业证书, three years.
        return (
            category,
            f"GR{year - 1}{division[:2]}{serial:06d}",
            date(year - 1, 11, 20),
            date(year + 2, 11, 19),
        )
    # Others: the business licence (营业执照), its USCC.
    return str(category), uscc, date(year - 5, 3, 1), date(year + 15, 2, 28)


def _working(day: date, rng: random.Random) -> datetime:
    """A moment of office hours on `day` (Asia/Shanghai)."""
    return at_local(day, dt_time(rng.randrange(9, 17), rng.choice((0, 10, 20, 30, 40, 50))))


def _seed_grants(
    orgs: dict[str, Organization],
    programmes: dict[str, Programme],
    users: dict[str, User],
    rng: random.Random,
    year: int,
    now: datetime,
    summary: SeedSummary,
) -> tuple[list[Grant], dict[int, datetime]]:
    """Every demo application that is missing, submitted and decided through
    the services at the moments it happened: all the demo grants, in order,
    and the suspensions due (made after the history, which they cut short)."""
    root = Path(str(current_app.config["UPLOAD_DIR"])) / "vouchers"
    authorities = {
        region: users[f"authority.{region}@demo.yrd"]
        for region in programmes
        if f"authority.{region}@demo.yrd" in users
    }
    grants: list[Grant] = []
    suspensions: dict[int, datetime] = {}
    for key, applicant in _applicants(orgs, programmes, users, rng, now, summary):
        programme = programmes[applicant.region]
        idem = f"{GRANT_KEY}{applicant.region}-{key.removeprefix('enterprise:')}"
        existing = db.session.scalar(select(Grant).where(Grant.idempotency_key == idem))
        if existing is not None:
            grants.append(existing)
            continue
        authority = authorities[applicant.region]
        opened = at_local(programme.applications_open_on, dt_time(9, 0))
        if applicant.outcome == "submitted":
            submitted = now - timedelta(hours=rng.uniform(6, 24 * 9))
        else:
            submitted = _working(date(year, 1, 5) + timedelta(days=rng.randrange(0, 45)), rng)
        submitted = max(opened, min(submitted, now - timedelta(hours=2)))
        decided = _working(local(submitted).date() + timedelta(days=rng.randint(3, 12)), rng)
        decided = min(decided, now - timedelta(hours=1))
        if submitted >= now or (applicant.outcome != "submitted" and decided <= submitted):
            continue  # the programme opened moments ago: nothing to show yet
        category, number, valid_from, valid_until = _certificate(applicant.org, year)
        application = programme_services.Application(
            amount_fen=applicant.requested_fen,
            category=category,
            certificate_no=number,
            certificate_valid_from=valid_from,
            certificate_valid_until=valid_until,
            purpose=rng.choice(_PURPOSES),
            idempotency_key=idem,
        )
        evidence = programme_services.Evidence(
            io.BytesIO(_pdf(f"Certificate {number}", applicant.org.name_en or "")),
            f"资质证书-{applicant.org.name_zh}.pdf",
        )
        grant = programme_services.apply_for_grant(
            applicant.user, programme.id, application, evidence, root, submitted
        )
        if applicant.outcome == "rejected":
            programme_services.reject_grant(authority, grant.id, _REJECT_REASON, decided)
        elif applicant.outcome in ("approved", "suspended"):
            programme_services.approve_grant(authority, grant.id, decided, applicant.approved_fen)
            if applicant.outcome == "suspended":
                when = _working(local(now).date() - timedelta(days=24), rng)
                if when > decided:
                    suspensions[grant.id] = when
        grants.append(grant)
    return grants, suspensions


# --- the history: uses, claims, settlement ---------------------------------------------------

# The history is written the way booking.demo writes the order history: the
# rules and the money follow the services exactly (`spending.evaluate` and
# `spending.rules_snapshot` decide each share; the entries and audit events
# are the rows `spending` and `claims` write for the same transitions), but
# the rows go in by multi-row INSERTs: through the services, one use costs
# about 40 statements, and a few hundred would take ten seconds.
_USE = cast(Table, VoucherUse.__table__)
_ENTRY = cast(Table, LedgerEntry.__table__)
_CLAIM = cast(Table, Claim.__table__)
_EVIDENCE = cast(Table, ClaimEvidence.__table__)
_AUDIT = cast(Table, AuditEvent.__table__)

# How a booking that ended without service ended: the order action that
# released its voucher share.
_ENDED_WITHOUT_SERVICE = {
    OrderStatus.CANCELLED: "cancel",
    OrderStatus.NO_SHOW: "no_show",
    OrderStatus.REJECTED: "reject",
    OrderStatus.EXPIRED: "expire",
}


def _history_done() -> bool:
    """Whether any demo booking already has a voucher use."""
    stmt = (
        select(VoucherUse.id)
        .join(Booking, Booking.id == VoucherUse.booking_id)
        .where(Booking.idempotency_key.like(f"{BOOKING_KEY}%"))
        .limit(1)
    )
    return db.session.scalar(stmt) is not None


def _suspended_at(grant: Grant) -> datetime | None:
    """When the grant was suspended (its audit trail), if it is."""
    if grant.status != GrantStatus.SUSPENDED:
        return None
    return db.session.scalar(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.object_type == "voucher_grant",
            AuditEvent.object_id == grant.id,
            AuditEvent.action == "voucher_grant.suspend",
        )
    )


@dataclass
class _Wallet:
    """A grant's balances as the history moves them (its cached buckets)."""

    grant: Grant
    available_fen: int
    held_fen: int = 0
    locked_fen: int = 0
    used_fen: int = 0
    until: datetime | None = None  # suspended from then on

    def as_of(self) -> Any:
        """The grant as `spending.evaluate` sees it at a placement: approved
        (a later suspension has not happened yet), with these balances."""
        g = self.grant
        return SimpleNamespace(
            status=GrantStatus.APPROVED,
            approved_fen=g.approved_fen,
            programme=g.programme,
            category=g.category,
            certificate_valid_from=g.certificate_valid_from,
            certificate_valid_until=g.certificate_valid_until,
            available_fen=self.available_fen,
            held_fen=self.held_fen,
            spendable_fen=self.available_fen - self.held_fen,
        )


@dataclass
class _Use:
    """One voucher use being written: its row, entries and audit events."""

    booking: Booking
    wallet: _Wallet
    row: dict[str, Any]
    entries: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.row["status"])

    def audit(
        self, actor: User | None, verb: str, before: str | None, at: datetime, **detail: Any
    ) -> None:
        self.events.append(
            {
                "at": at,
                "actor_user_id": actor.id if actor else None,
                "actor_org_id": actor.organization_id if actor else None,
                "action": f"voucher_use.{verb}",
                "object_type": "voucher_use",
                "from_state": before,
                "to_state": self.status,
                "detail": {
                    "booking_id": self.booking.id,
                    "service_order_id": None,
                    "grant_id": self.wallet.grant.id,
                    **detail,
                },
            }
        )

    def entry(
        self,
        kind: EntryKind,
        amount: int,
        source: Bucket,
        target: Bucket,
        at: datetime,
        actor: User | None,
        note: str = "",
    ) -> None:
        self.entries.append(
            {
                "grant_id": self.wallet.grant.id,
                "kind": kind.value,
                "amount_fen": amount,
                "from_bucket": source.value,
                "to_bucket": target.value,
                "actor_id": actor.id if actor else None,
                "note": note,
                "idempotency_key": None,
                "created_at": at,
            }
        )


@dataclass
class _History:
    programmes: dict[str, Programme]
    grants: list[Grant]
    suspensions: dict[int, datetime]
    users: dict[str, User]
    rng: random.Random
    now: datetime
    refused: Counter[str] = field(default_factory=Counter)
    staff: dict[int, User] = field(default_factory=dict)
    # Controller groups' committed shares (programme, controller): in all,
    # and what this history adds.
    groups: Counter[tuple[int, str]] = field(default_factory=Counter)
    group_moves: Counter[tuple[int, str]] = field(default_factory=Counter)

    def play(self) -> None:
        self.staff = {
            self.users[d.email].organization_id: self.users[d.email]
            for d in DEMO_LOGINS
            if d.org.startswith("provider:") and d.email in self.users
        }
        uses = self._uses()
        if not uses:
            return
        self._insert_uses(uses)
        self._claims([u for u in uses if u.status == UseStatus.USED])
        self._settle()

    # -- uses --

    def _wallets(self) -> dict[int, _Wallet]:
        """The approved (or since suspended) grants, by enterprise."""
        out: dict[int, _Wallet] = {}
        for grant in self.grants:
            if grant.status not in (GrantStatus.APPROVED, GrantStatus.SUSPENDED):
                continue
            if grant.decided_at is None or grant.held_fen or grant.locked_fen:
                continue  # in use already: leave it to its own orders
            until = self.suspensions.get(grant.id) or _suspended_at(grant)
            out[grant.enterprise_id] = _Wallet(grant, grant.available_fen, until=until)
        return out

    def _uses(self) -> list[_Use]:
        wallets = self._wallets()
        if not wallets:
            return []
        demo_firms = {
            self.users[e].organization_id
            for e in ("enterprise@demo.yrd", "enterprise.suzhou@demo.yrd")
            if e in self.users
        }
        bookings = db.session.scalars(
            select(Booking)
            .where(
                Booking.idempotency_key.like(f"{BOOKING_KEY}%"),
                Booking.enterprise_id.in_(list(wallets)),
            )
            .options(
                selectinload(Booking.instrument).selectinload(Instrument.provider),
                selectinload(Booking.enterprise),
                selectinload(Booking.user),
            )
            .order_by(Booking.created_at, Booking.id)
        ).all()
        # Every move of every use, replayed in time order so each placement
        # sees the balances of its moment.
        moves: list[tuple[datetime, int, int, Booking]] = []
        for n, booking in enumerate(bookings):
            wallet = wallets[booking.enterprise_id]
            approved_at = wallet.grant.decided_at
            assert approved_at is not None
            if booking.created_at <= approved_at + timedelta(hours=1):
                continue
            if wallet.until is not None and booking.created_at >= wallet.until:
                continue
            chance = 1.0 if booking.enterprise_id in demo_firms else OTHER_FIRMS_VOUCHER_SHARE
            if booking.status in _ENDED_WITHOUT_SERVICE:
                chance /= 2
            if self.rng.random() >= chance:
                continue
            for step, at in enumerate(_steps(booking)):
                moves.append((at, n, step, booking))
        moves.sort(key=lambda m: (m[0], m[1], m[2]))
        self.groups.update(
            {
                (g.programme_id, g.controller_key): g.committed_fen
                for g in db.session.scalars(select(GroupSpend))
            }
        )
        made: dict[int, _Use] = {}
        skipped: set[int] = set()
        for at, n, step, booking in moves:
            if n in skipped:
                continue
            if step == 0:
                use = self._place(booking, wallets[booking.enterprise_id], at)
                if use is None:
                    skipped.add(n)
                else:
                    made[n] = use
            else:
                self._follow(made[n], at)
        return [made[n] for n in sorted(made)]

    def _place(self, booking: Booking, wallet: _Wallet, at: datetime) -> _Use | None:
        """`spending.place` at the booking's placing: every rule, then the hold."""
        programme = wallet.grant.programme
        facts = spending.order_facts(booking)
        key = spending.controller_key(facts.enterprise)
        group_left: int | None = None
        if programme.group_cap_fen is not None and key is not None:
            group_left = max(0, programme.group_cap_fen - self.groups[(programme.id, key)])
        verdict = spending.evaluate(wallet.as_of(), facts, local(at).date(), group_left)
        if verdict.refusal is not None:
            self.refused[str(verdict.refusal)] += 1
            return None
        share = verdict.share_fen
        use = _Use(
            booking,
            wallet,
            {
                "grant_id": wallet.grant.id,
                "programme_id": programme.id,
                "enterprise_id": facts.enterprise.id,
                "provider_id": facts.provider.id,
                "booking_id": booking.id,
                "service_order_id": None,
                "service_kind": facts.service_kind,
                "item_key": facts.item_key,
                "controller_key": key,
                "status": UseStatus.HELD.value,
                "price_fen": facts.price_fen,
                "share_fen": share,
                "used_fen": None,
                "rules": spending.rules_snapshot(programme),
                "split_flag": False,
                "split_reason": None,
                "claim_deadline": programme.claim_deadline,
                "deadline_reminded_at": None,
                "created_at": at,
                "locked_at": None,
                "used_at": None,
                "ended_at": None,
            },
        )
        wallet.held_fen += share
        self._commit_group(use, share)
        use.audit(
            booking.user,
            "hold",
            None,
            at,
            share_fen=share,
            price_fen=facts.price_fen,
            payment=f"{spending.KEY_PREFIX}{wallet.grant.id}",
        )
        return use

    def _commit_group(self, use: _Use, amount: int) -> None:
        key = use.row["controller_key"]
        if key is not None and use.wallet.grant.programme.group_cap_fen is not None:
            self.groups[(use.row["programme_id"], key)] += amount
            self.group_moves[(use.row["programme_id"], key)] += amount

    def _follow(self, use: _Use, at: datetime) -> None:
        """The next order event after the placing: accepted (lock), then
        used on confirmation or released when it ended without service."""
        booking, wallet = use.booking, use.wallet
        share = int(use.row["share_fen"])
        status = OrderStatus(booking.status)
        staff = self.staff.get(booking.instrument.provider_id)
        if use.status == UseStatus.HELD and at == booking.decided_at and status != "rejected":
            instant = booking.decided_at == booking.created_at
            actor = booking.user if instant else staff
            wallet.held_fen -= share
            wallet.available_fen -= share
            wallet.locked_fen += share
            use.entry(EntryKind.LOCK, share, Bucket.AVAILABLE, Bucket.LOCKED, at, actor)
            use.row.update(status=UseStatus.LOCKED.value, locked_at=at)
            use.audit(actor, "lock", UseStatus.HELD, at, amount_fen=share)
        elif status == OrderStatus.CLOSED and use.status == UseStatus.LOCKED:
            actor = booking.user if booking.firm_confirmed_at else None
            bill = booking.charge_fen if booking.charge_fen is not None else booking.quote_fen
            used = min(share, spending.subsidised(bill, int(use.row["rules"]["subsidy_percent"])))
            rest = share - used
            wallet.locked_fen -= share
            wallet.used_fen += used
            wallet.available_fen += rest
            if used > 0:
                use.entry(EntryKind.USE, used, Bucket.LOCKED, Bucket.USED, at, actor)
            if rest > 0:
                use.entry(
                    EntryKind.RELEASE,
                    rest,
                    Bucket.LOCKED,
                    Bucket.AVAILABLE,
                    at,
                    actor,
                    "unused rest",
                )
                self._commit_group(use, -rest)
            if used > 0:
                use.row.update(status=UseStatus.USED.value, used_fen=used, used_at=at)
            else:
                use.row.update(status=UseStatus.RELEASED.value, used_fen=0, ended_at=at)
            use.audit(
                actor, "use", UseStatus.LOCKED, at, used_fen=used, released_fen=rest, bill_fen=bill
            )
        elif status in _ENDED_WITHOUT_SERVICE and use.status in (UseStatus.HELD, UseStatus.LOCKED):
            action = _ENDED_WITHOUT_SERVICE[status]
            actor = {"cancel": booking.user, "reject": staff}.get(action)
            before = use.status
            if before == UseStatus.HELD:
                wallet.held_fen -= share
            else:
                wallet.locked_fen -= share
                wallet.available_fen += share
                use.entry(
                    EntryKind.RELEASE, share, Bucket.LOCKED, Bucket.AVAILABLE, at, actor, action
                )
            self._commit_group(use, -share)
            use.row.update(status=UseStatus.RELEASED.value, ended_at=at)
            use.audit(actor, "release", before, at, amount_fen=share, order_action=action)

    def _insert_uses(self, uses: list[_Use]) -> None:
        """The uses, their ledger entries and audit events; the grants' cached
        balances and the controller groups' counters moved to match."""
        # Ids by natural key (one use per booking): a RETURNING sorted by
        # parameter order would insert row by row on SQLite.
        inserted = db.session.execute(
            insert(_USE).returning(_USE.c.id, _USE.c.booking_id), [u.row for u in uses]
        )
        by_booking = {booking_id: use_id for use_id, booking_id in inserted}
        ids = [by_booking[u.row["booking_id"]] for u in uses]
        entries: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for use_id, use in zip(ids, uses, strict=True):
            use.row["id"] = use_id
            entries += [{**e, "voucher_use_id": use_id} for e in use.entries]
            events += [{**e, "object_id": use_id} for e in use.events]
        for chunk in _chunks(entries):
            db.session.execute(insert(_ENTRY), chunk)
        for chunk in _chunks(events):
            db.session.execute(insert(_AUDIT), chunk)
        for wallet in {id(u.wallet): u.wallet for u in uses}.values():
            db.session.execute(
                update(Grant)
                .where(Grant.id == wallet.grant.id)
                .values(
                    available_fen=wallet.available_fen,
                    held_fen=wallet.held_fen,
                    locked_fen=wallet.locked_fen,
                    used_fen=wallet.used_fen,
                ),
                execution_options={"synchronize_session": False},
            )
            db.session.expire(wallet.grant)
        for (programme_id, key), amount in sorted(self.group_moves.items()):
            cap = self.programmes_by_id()[programme_id].group_cap_fen
            if amount > 0 and cap is not None:
                ledger.commit_group(programme_id, key, cap, amount)

    def programmes_by_id(self) -> dict[int, Programme]:
        return {p.id: p for p in self.programmes.values()}

    # -- claims --

    def _claims(self, used: list[_Use]) -> None:
        """The payees' claims on most used shares, with their evidence; the
        older ones reviewed (one returned for correction), the latest waiting."""
        root = Path(str(current_app.config["UPLOAD_DIR"]))
        authorities = {
            p.authority_id: self.users.get(f"authority.{region}@demo.yrd")
            for region, p in self.programmes.items()
        }
        regions = dict(db.session.execute(select(Organization.id, Organization.region_id)).all())
        returned = False
        # provider@demo.yrd has one of its Jiading claims sent back to correct.
        own = self.users.get("provider@demo.yrd")
        to_return = (own.organization_id if own else None, self.programmes.get("jiading"))
        made: list[tuple[dict[str, Any], list[dict[str, Any]], str]] = []
        for use in sorted(used, key=lambda u: (u.row["used_at"], u.row["id"])):
            row, booking = use.row, use.booking
            programme = use.wallet.grant.programme
            reimbursed = row["rules"]["mode"] == RedemptionMode.FIRM_REIMBURSED
            actor = booking.user if reimbursed else self.staff.get(row["provider_id"])
            authority = authorities.get(programme.authority_id)
            if actor is None or authority is None or self.rng.random() >= CLAIM_SHARE:
                continue  # no sign-in to claim with, or not claimed yet
            day = local(row["used_at"]).date() + timedelta(days=self.rng.randint(*CLAIM_AFTER_DAYS))
            filed = _working(day, self.rng)
            if filed >= self.now - timedelta(minutes=30) or day > row["claim_deadline"]:
                continue
            payee = actor.organization
            serial = str(booking.idempotency_key).removeprefix(BOOKING_KEY)
            invoice = f"{INVOICE_PREFIX}{local(filed):%y}{payee.region.division_code}{serial:0>8}"
            claim: dict[str, Any] = {
                "voucher_use_id": row["id"],
                "programme_id": programme.id,
                "authority_id": programme.authority_id,
                "payee_id": payee.id,
                "issuing_region_id": regions[programme.authority_id],
                "provider_region_id": regions[row["provider_id"]],
                "amount_fen": row["used_fen"],
                "status": ClaimStatus.SUBMITTED.value,
                # Invoice = the contract amount, the order's final charge.
                "invoice_number": invoice,
                "invoice_amount_fen": booking.charge_fen,
                "payee_account_name": payee.name_zh,
                "payee_bank": _BANKS.get(payee.region.code, "中国银行"),
                "payee_account_no": _account_no(payee),
                "review_reason": None,
                "submitted_by_id": actor.id,
                "submitted_at": filed,
                "decided_by_id": None,
                "decided_at": None,
                "approved_at": None,
                "batch_id": None,
                "paid_at": None,
                "idempotency_key": f"{CLAIM_KEY}{serial}",
            }
            events = [
                _claim_event(
                    actor,
                    "claim.submit",
                    None,
                    ClaimStatus.SUBMITTED,
                    filed,
                    voucher_use_id=row["id"],
                    amount_fen=row["used_fen"],
                    invoice_number=invoice,
                )
            ]
            day = local(filed).date() + timedelta(days=self.rng.randint(*REVIEW_AFTER_DAYS))
            reviewed = max(filed + timedelta(hours=1), _working(day, self.rng))
            # The last days' claims wait in the authority's queue.
            waiting = filed >= self.now - timedelta(days=QUEUE_DAYS)
            if not waiting and reviewed < self.now - timedelta(hours=12):
                if (
                    not returned
                    and reviewed >= self.now - timedelta(days=20)
                    and (payee.id, programme) == to_return
                ):
                    returned = True
                    claim.update(status=ClaimStatus.RETURNED.value, review_reason=_RETURN_REASON)
                    action = "claim.return"
                    detail = {"reason": _RETURN_REASON}
                else:
                    claim.update(status=ClaimStatus.APPROVED.value, approved_at=reviewed)
                    action, detail = "claim.approve", {}
                claim.update(decided_at=reviewed, decided_by_id=authority.id)
                events.append(
                    _claim_event(
                        authority,
                        action,
                        ClaimStatus.SUBMITTED,
                        claim["status"],
                        reviewed,
                        **detail,
                    )
                )
            made.append((claim, events, serial))
        if not made:
            return
        inserted = db.session.execute(
            insert(_CLAIM).returning(_CLAIM.c.id, _CLAIM.c.voucher_use_id),
            [c for c, _e, _s in made],
        )
        by_use = {use_id: claim_id for claim_id, use_id in inserted}
        ids = [by_use[c["voucher_use_id"]] for c, _e, _s in made]
        evidence: list[dict[str, Any]] = []
        events = []
        for claim_id, (claim, claim_events, serial) in zip(ids, made, strict=True):
            events += [{**e, "object_id": claim_id} for e in claim_events]
            for kind, title, label in _EVIDENCE_FILES:
                stored = store_pdf(
                    io.BytesIO(_pdf(f"{title} {claim['invoice_number']}", f"booking {serial}")),
                    f"{label}-{claim['invoice_number']}.pdf",
                    root,
                    f"{claim_services.EVIDENCE_FOLDER}/{claim_id}",
                    field=kind,
                )
                evidence.append(
                    {
                        "claim_id": claim_id,
                        "kind": kind,
                        "path": stored.relative_path,
                        "original_name": stored.display_name,
                        "uploaded_at": claim["submitted_at"],
                    }
                )
        for chunk in _chunks(evidence):
            db.session.execute(insert(_EVIDENCE), chunk)
        for chunk in _chunks(events):
            db.session.execute(insert(_AUDIT), chunk)

    # -- settlement --

    def _settle(self) -> None:
        """Each authority's closed periods, oldest first, one batch each
        (`settlement.settle`); every batch but the latest paid."""
        for region, programme in self.programmes.items():
            actor = self.users.get(f"authority.{region}@demo.yrd")
            if actor is None:
                continue
            first = db.session.scalar(
                select(func.min(Claim.approved_at)).where(
                    Claim.authority_id == programme.authority_id,
                    Claim.status == ClaimStatus.APPROVED,
                    Claim.batch_id.is_(None),
                )
            )
            if first is None:
                continue
            last = settlement.last_closed(self.now, programme.settlement_cycle)
            period = settlement.period_of(first, programme.settlement_cycle)
            made: list[tuple[settlement.Period, int]] = []
            while period <= last:
                closed_at = period.ends_at + timedelta(days=SETTLE_AFTER_DAYS, hours=10)
                closed_at = max(period.ends_at, min(closed_at, self.now - timedelta(minutes=1)))
                result = settlement.settle(
                    period, closed_at, authority_id=programme.authority_id, actor=actor
                )
                made += [(period, batch_id) for batch_id in result.batch_ids]
                period = period.next()
            for n, (paid_period, batch_id) in enumerate(made[:-1], start=1):
                paid_at = paid_period.ends_at + timedelta(
                    days=SETTLE_AFTER_DAYS + PAY_AFTER_DAYS, hours=15
                )
                if paid_at >= self.now:
                    continue
                reference = (
                    f"GKZF{local(paid_at):%Y%m%d}{(actor.organization.uscc or '')[-6:]}{n:03d}"
                )
                settlement.record_payment(batch_id, actor, reference, paid_at)


_EVIDENCE_FILES = (
    (EvidenceKind.CONTRACT.value, "Contract", "合同"),
    (EvidenceKind.INVOICE.value, "Invoice", "发票"),
    (EvidenceKind.PAYMENT_PROOF.value, "Payment proof", "付款凭证"),
)


def _steps(booking: Booking) -> list[datetime]:
    """The moments of the order events that move a voucher use: placed,
    accepted (if it was), then used or released."""
    steps = [booking.created_at]
    status = OrderStatus(booking.status)
    if booking.decided_at is not None and status != OrderStatus.REJECTED:
        steps.append(booking.decided_at)
    if status == OrderStatus.CLOSED:
        steps.append(booking.firm_confirmed_at or booking.updated_at)
    elif status == OrderStatus.REJECTED:
        steps.append(booking.decided_at or booking.updated_at)
    elif status in _ENDED_WITHOUT_SERVICE:
        steps.append(booking.updated_at)
    return steps


def _claim_event(
    actor: User, action: str, before: str | None, after: str, at: datetime, **detail: Any
) -> dict[str, Any]:
    return {
        "at": at,
        "actor_user_id": actor.id,
        "actor_org_id": actor.organization_id,
        "action": action,
        "object_type": claim_services.OBJECT_TYPE,
        "from_state": before,
        "to_state": after,
        "detail": detail,
    }


def _chunks(rows: list[dict[str, Any]], size: int = 1000) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _account_no(org: Organization) -> str:
    digits = "".join(str(int(c, 36) % 10) for c in org.uscc or str(org.id).zfill(18))
    return f"6222{digits[2:17]}"


# --- evidence files ---------------------------------------------------------------------------


def _pdf(*lines: str) -> bytes:
    """A one-page PDF saying `lines` (ASCII), small and well-formed, so the
    demo's evidence downloads open in any viewer."""
    text = ["BT", "/F1 14 Tf", "72 770 Td", "(YRD instrument sharing - demo evidence) Tj"]
    for line in lines:
        safe = line.encode("ascii", "replace").decode().replace("\\", "\\\\")
        safe = safe.replace("(", "\\(").replace(")", "\\)")
        text += ["0 -24 Td", f"({safe}) Tj"]
    text.append("ET")
    content = "\n".join(text).encode()
    objects: Iterable[bytes] = (
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets: list[int] = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(offsets) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(offsets) + 1,
        xref,
    )
    return bytes(out)
