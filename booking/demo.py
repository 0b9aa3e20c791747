"""The demo alliance: `flask --app booking seed-demo`.

Loads the Yangtze River Delta platform of the seed article (3 regions, 130
member institutions, 1,705 instruments, 309 testing services) plus firms and
one sign-in per role, from the deterministic pools in `instruments.demo_data`.

Idempotent: every row has a natural key (region code, organization USCC,
user email, instrument (provider, internal number), service item (provider,
code)); what exists is left exactly as it is, so a second run creates
nothing. Keys are loaded into sets once; instruments and prices go in by
chunks, as multi-row INSERTs (COPY on PostgreSQL), so `scale=100_000` loads
in about a minute on either database.

Like every service, `seed` flushes and never commits: the CLI (or the
benchmark) commits once.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dt_time
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from flask import current_app
from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.orm import selectinload

from booking.accounts.models import (
    Organization,
    OrgKind,
    Region,
    User,
    UserRole,
    VerificationStatus,
)
from booking.audit.models import AuditEvent
from booking.audit.services import record
from booking.extensions import db, utcnow
from booking.orders.clock import at_local, local, week_start
from booking.orders.models import (
    Booking,
    InternalUse,
    OrderStatus,
    ServiceOrder,
    UtilisationSnapshot,
)
from booking.orders.policy import (
    OrderSettings,
    booking_policy,
    cancellation_fee,
    quote,
    usage_charge,
)
from booking.orders.service_orders import remaining_capacity, service_policy
from booking.orders.utilisation import last_months, snapshot_month
from instruments import demo_data
from instruments.demo_data import EnterpriseSpec, ProviderSpec
from instruments.models import Downtime, Instrument, InstrumentPrice, ServiceItem, ServiceMode
from instruments.services import refresh_instrument_search, refresh_service_item_search

DEMO_PASSWORD = "Demo-2026-pass"  # noqa: S105 -- published on purpose: the demo sign-ins
CHUNK = 2000

Progress = Callable[[str], None]
_M = TypeVar("_M", Instrument, ServiceItem)


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    name: str
    org: str  # "platform", "authority:<region>", "provider:<key>" or "enterprise:<key>"
    try_this: str
    user_role: str = UserRole.ADMIN


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin(
        "platform admin",
        "platform@demo.yrd",
        "平台管理员",
        "platform",
        "regions, member admission, every organization",
    ),
    DemoLogin(
        "authority (Jiading)",
        "authority.jiading@demo.yrd",
        "嘉定科委管理员",
        "authority:jiading",
        "verify the pending firm 上海菊园智能装备有限公司; approve voucher applications and"
        " claims, close settlement",
    ),
    DemoLogin(
        "authority (Suzhou)",
        "authority.suzhou@demo.yrd",
        "苏州科技局管理员",
        "authority:suzhou",
        "verify Suzhou firms, regional figures, voucher budget and quarterly settlement",
    ),
    DemoLogin(
        "authority (Wenzhou)",
        "authority.wenzhou@demo.yrd",
        "温州科技局管理员",
        "authority:wenzhou",
        "verify Wenzhou firms, regional figures, 通用 voucher reimbursement claims",
    ),
    DemoLogin(
        "provider staff (Jiading)",
        "provider@demo.yrd",
        "硅酸盐所测试平台",
        "provider:sic-jd",
        "approve requests, record usage, see utilisation, file voucher claims, statements",
        UserRole.STAFF,
    ),
    DemoLogin(
        "provider admin (Suzhou)",
        "provider2@demo.yrd",
        "纳米所平台管理员",
        "provider:sinano",
        "another provider's catalogue: cannot edit Jiading's; cross-region voucher claims",
    ),
    DemoLogin(
        "enterprise (Jiading)",
        "enterprise@demo.yrd",
        "嘉驰科技研发部",
        "enterprise:demo-jiading",
        "search 色谱, book an instrument (pay with 创新券), see my orders and voucher wallet",
    ),
    DemoLogin(
        "enterprise (Suzhou)",
        "enterprise.suzhou@demo.yrd",
        "纳睿微电子采购",
        "enterprise:demo-suzhou",
        "cross-region search (Jiading instruments), Suzhou voucher wallet",
    ),
    DemoLogin(
        "enterprise (pending)",
        "pending@demo.yrd",
        "菊园智能装备",
        "enterprise:demo-pending",
        "signs in, waits for verification",
    ),
)


@dataclass
class SeedSummary:
    """What one run created, and what the database holds afterwards."""

    created: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, kind: str, count: int = 1) -> None:
        self.created[kind] = self.created.get(kind, 0) + count

    @property
    def created_total(self) -> int:
        return sum(self.created.values())

    def describe(self) -> str:
        kinds = list(dict.fromkeys([*self.totals, *self.created]))
        width = max((len(k) for k in kinds), default=10)
        lines = [f"Demo data ({self.seconds:.1f} s): created {self.created_total:,} rows."]
        lines.append(f"  {'':<{width}}  {'created':>9}  {'total':>9}")
        for kind in kinds:
            created = self.created.get(kind, 0)
            total = self.totals.get(kind, 0)
            lines.append(f"  {kind:<{width}}  {created:>9,}  {total:>9,}")
        return "\n".join(lines)


def has_data() -> bool:
    """Whether the database already has regions or organizations (so a demo
    load on start-up should leave it alone)."""
    return (
        db.session.scalar(select(Region.id).limit(1)) is not None
        or db.session.scalar(select(Organization.id).limit(1)) is not None
    )


def logins_text() -> str:
    """The demo sign-ins as a small table, for the terminal."""
    rows = [("role", "email", "password", "try")]
    rows += [(d.role, d.email, DEMO_PASSWORD, d.try_this) for d in DEMO_LOGINS]
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = ["Demo sign-ins:"]
    for r in rows:
        lines.append("  " + "  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3])
    return "\n".join(lines)


def seed(
    scale: int | None = None, progress: Progress | None = None, now: datetime | None = None
) -> SeedSummary:
    """Create whatever part of the demo alliance is missing. `scale` is the
    number of instruments wanted in all (default 1,705, the realistic set;
    more are generated of the same kinds across the same institutions)."""
    started = time.monotonic()
    say = progress or (lambda _message: None)
    now = now or utcnow()
    summary = SeedSummary()
    total_instruments = demo_data.REALISTIC_INSTRUMENTS if scale is None else scale

    regions = _seed_regions(summary)
    orgs = _seed_organizations(regions, summary, now)
    say(f"regions {len(regions)}, organizations {len(orgs)}")
    _seed_users(orgs, summary, now)
    _seed_instruments(orgs, total_instruments, summary, say, now)
    _seed_service_items(orgs, summary, now)
    db.session.flush()
    _seed_orders(orgs, summary, say, now)
    db.session.flush()
    _seed_internal_use(orgs, summary, say, now)
    db.session.flush()

    summary.totals = _totals()
    from vouchers.demo import seed_vouchers

    seed_vouchers(orgs, summary, say, now)
    summary.seconds = time.monotonic() - started
    return summary


# --- regions and organizations ----------------------------------------------------


def _seed_regions(summary: SeedSummary) -> dict[str, Region]:
    existing = {r.code: r for r in db.session.scalars(select(Region))}
    for spec in demo_data.REGIONS:
        if spec.code not in existing:
            region = Region(
                code=spec.code,
                name_zh=spec.name_zh,
                name_en=spec.name_en,
                division_code=spec.division_code,
            )
            db.session.add(region)
            existing[spec.code] = region
            summary.add("regions")
    db.session.flush()
    return existing


def _org_rows(regions: dict[str, Region]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(demo key, organization fields) for every demo organization."""
    platform = demo_data.PLATFORM
    yield (
        "platform",
        {
            "kind": OrgKind.PLATFORM,
            "name_zh": platform.name_zh,
            "name_en": platform.name_en,
            "uscc": platform.uscc,
            "region": regions[platform.region_code],
            "address": platform.address,
            "contact_name": "平台运营部",
            "contact_phone": platform.contact_phone,
        },
    )
    for spec in demo_data.REGIONS:
        yield (
            f"authority:{spec.code}",
            {
                "kind": OrgKind.AUTHORITY,
                "name_zh": spec.authority_zh,
                "name_en": spec.authority_en,
                "uscc": demo_data.authority_uscc(spec),
                "region": regions[spec.code],
                "address": spec.authority_address,
                "contact_name": "科技资源共享服务处",
                "contact_phone": f"{spec.area_code}-69990000",
            },
        )
    for provider in demo_data.providers():
        yield f"provider:{provider.key}", _provider_fields(provider, regions)
    for firm in demo_data.enterprises():
        yield f"enterprise:{firm.key}", _enterprise_fields(firm, regions)


def _provider_fields(spec: ProviderSpec, regions: dict[str, Region]) -> dict[str, Any]:
    rng = random.Random(f"{demo_data.SEED}-contact-{spec.key}")
    return {
        "kind": OrgKind.PROVIDER,
        "name_zh": spec.name_zh,
        "name_en": spec.name_en,
        "uscc": spec.uscc,
        "region": regions[spec.region_code],
        "provider_type": spec.provider_type,
        "address": spec.address,
        "contact_name": demo_data.person_name(rng),
        "contact_phone": demo_data.phone(rng, demo_data.REGION_BY_CODE[spec.region_code].area_code),
    }


def _enterprise_fields(spec: EnterpriseSpec, regions: dict[str, Region]) -> dict[str, Any]:
    return {
        "kind": OrgKind.ENTERPRISE,
        "name_zh": spec.name_zh,
        "name_en": spec.name_en,
        "uscc": spec.uscc,
        "region": regions[spec.region_code],
        "enterprise_category": spec.category,
        "controller_name": spec.controller_name,
        "contact_name": spec.contact_name,
        "contact_phone": spec.contact_phone,
        "address": spec.address,
        "status": spec.status,
        "status_reason": spec.status_reason,
    }


def _seed_organizations(
    regions: dict[str, Region], summary: SeedSummary, now: datetime
) -> dict[str, Organization]:
    """Every demo organization by demo key, created where its USCC is unknown."""
    by_uscc = {o.uscc: o for o in db.session.scalars(select(Organization))}
    authority_regions = {o.region_id for o in by_uscc.values() if o.kind == OrgKind.AUTHORITY}
    orgs: dict[str, Organization] = {}
    for key, fields in _org_rows(regions):
        org = by_uscc.get(fields["uscc"])
        if org is None:
            if fields["kind"] == OrgKind.AUTHORITY and fields["region"].id in authority_regions:
                # The region already has its (one) authority; use that one.
                org = db.session.scalars(
                    select(Organization).where(
                        Organization.kind == OrgKind.AUTHORITY,
                        Organization.region_id == fields["region"].id,
                    )
                ).one()
            else:
                fields.setdefault("status", VerificationStatus.VERIFIED)
                org = Organization(**fields)
                if org.status == VerificationStatus.VERIFIED:
                    org.verified_at = now
                db.session.add(org)
                summary.add(f"organizations ({fields['kind']})")
        orgs[key] = org
    db.session.flush()
    return orgs


def _seed_users(orgs: dict[str, Organization], summary: SeedSummary, now: datetime) -> None:
    emails = set(db.session.scalars(select(User.email)))
    password_hash: str | None = None
    for login in DEMO_LOGINS:
        if login.email in emails:
            continue
        org = orgs[login.org]
        user = User(
            organization=org,
            email=login.email,
            name=login.name,
            role=login.user_role,
            locale="zh_Hans",
            active=True,
        )
        # One scrypt hash (a third of a second) serves every demo user: they
        # share the published password anyway.
        if password_hash is None:
            user.set_password(DEMO_PASSWORD, now=now)
            password_hash = user.password_hash
        else:
            user.password_hash = password_hash
            user.password_changed_at = now
        db.session.add(user)
        summary.add("users")
    db.session.flush()


# --- instruments and prices ------------------------------------------------------------


# Core tables, not ORM entities: an ORM bulk INSERT .. RETURNING here runs row
# by row on SQLite, the Core one in a few multi-row statements.
_INSTRUMENT = cast(Table, Instrument.__table__)
_INSTRUMENT_PRICE = cast(Table, InstrumentPrice.__table__)
_SERVICE_ITEM = cast(Table, ServiceItem.__table__)


def _transient(model: type[_M], fields: dict[str, Any]) -> _M:
    """A stand-in for an unsaved `model` row carrying `fields`, for the
    catalogue's refresh_*_search functions, so the demo rows get exactly the
    search text and tokens the services compute. A plain namespace, not an
    ORM instance: setting 40 instrumented attributes per row would double
    the time of a 100,000-instrument load. A search that came to read a
    relationship would fail here loudly rather than differ silently."""
    return cast(_M, SimpleNamespace(**fields))


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _seed_instruments(
    orgs: dict[str, Organization], total: int, summary: SeedSummary, say: Progress, now: datetime
) -> None:
    """Bulk-insert the instruments (and their prices) that are not there yet.

    Search fields come from `refresh_instrument_search` run on one transient
    instrument, so they are exactly what the catalogue services compute."""
    provider_ids = {
        key.removeprefix("provider:"): org.id
        for key, org in orgs.items()
        if key.startswith("provider:")
    }
    existing: set[tuple[int, str]] = {
        (provider_id, internal_no)
        for provider_id, internal_no in db.session.execute(
            select(Instrument.provider_id, Instrument.internal_no)
        )
    }
    created = 0
    seen = 0
    report_every = max(CHUNK, (total // 10) // CHUNK * CHUNK)
    generated = demo_data.instruments(demo_data.providers(), total)
    for chunk in _chunks(generated, CHUNK):
        rows: list[dict[str, Any]] = []
        prices: dict[tuple[int, str], dict[str, int]] = {}
        for item in chunk:
            provider_id = provider_ids[item.provider_key]
            key = (provider_id, item.fields["internal_no"])
            if key in existing:
                continue
            existing.add(key)
            row = dict(item.fields)
            row.update(
                provider_id=provider_id,
                category_code=row["classification_code"][:2],
                price_from_fen=min(item.prices.values()) if item.prices else None,
                created_at=now,
                updated_at=now,
            )
            probe = _transient(Instrument, row)
            refresh_instrument_search(probe)
            row.update(search_text=probe.search_text, search_tokens=probe.search_tokens)
            rows.append(row)
            prices[key] = item.prices
        seen += len(chunk)
        if rows:
            ids = _insert_instruments(rows)
            price_rows = [
                {
                    "instrument_id": instrument_id,
                    "mode": mode,
                    "price_fen_per_hour": fen,
                    # As instruments.services.set_prices: operator-run 7 days ahead, else 3.
                    "lead_days": 7 if mode == "entrusted" else 3,
                }
                for instrument_id, row in zip(ids, rows, strict=True)
                for mode, fen in prices[(row["provider_id"], row["internal_no"])].items()
            ]
            _insert_rows(_INSTRUMENT_PRICE, price_rows)
            created += len(rows)
            summary.add("instruments", len(rows))
            summary.add("instrument prices", len(price_rows))
        if total > CHUNK and (seen % report_every == 0 or seen == total):
            say(f"instruments {seen:,}/{total:,} ({created:,} new)…")


def _insert_instruments(rows: list[dict[str, Any]]) -> list[int]:
    """Insert `rows`; their new ids, in order."""
    if db.session.get_bind().dialect.name != "postgresql":
        returned = db.session.execute(
            insert(_INSTRUMENT).returning(
                _INSTRUMENT.c.id, _INSTRUMENT.c.provider_id, _INSTRUMENT.c.internal_no
            ),
            rows,
        )
        id_by_key = {(p, n): i for i, p, n in returned}
        return [id_by_key[(r["provider_id"], r["internal_no"])] for r in rows]
    # PostgreSQL: take ids from the column's sequence, then COPY.
    ids = list(
        db.session.scalars(
            text(
                "SELECT nextval(pg_get_serial_sequence('instrument', 'id'))"
                " FROM generate_series(1, :n)"
            ),
            {"n": len(rows)},
        )
    )
    for instrument_id, row in zip(ids, rows, strict=True):
        row["id"] = instrument_id
    _insert_rows(_INSTRUMENT, rows)
    return ids


def _insert_rows(table: Table, rows: list[dict[str, Any]]) -> None:
    """A multi-row INSERT; on PostgreSQL a COPY, which is several times faster
    than psycopg's executemany for rows this wide (and its token arrays)."""
    if not rows:
        return
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(insert(table), rows)
        return
    columns = list(rows[0])
    arrays = {name for name in columns if isinstance(rows[0][name], list)}
    quote = db.session.get_bind().dialect.identifier_preparer.quote
    statement = f"COPY {quote(table.name)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"
    raw = db.session.connection().connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor, cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row([_array_literal(row[c]) if c in arrays else row[c] for c in columns])


def _array_literal(values: list[str]) -> str:
    """A text[] in PostgreSQL's input syntax: cheaper than psycopg adapting
    each list element by element."""
    quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
    return "{" + ",".join(f'"{v}"' for v in quoted) + "}"


# --- service items --------------------------------------------------------------------


def _seed_service_items(orgs: dict[str, Organization], summary: SeedSummary, now: datetime) -> None:
    provider_ids = {
        key.removeprefix("provider:"): org.id
        for key, org in orgs.items()
        if key.startswith("provider:")
    }
    existing: set[tuple[int, str]] = {
        (provider_id, code)
        for provider_id, code in db.session.execute(
            select(ServiceItem.provider_id, ServiceItem.code)
        )
    }
    wanted = [
        s
        for s in demo_data.service_items(demo_data.providers())
        if (provider_ids[s.provider_key], s.fields["code"]) not in existing
    ]
    if not wanted:
        return
    # A service is linked to the provider's first instrument of the kind that does it.
    prefix = func.substr(Instrument.classification_code, 1, 4)
    first_instrument = {
        (provider_id, code4): instrument_id
        for provider_id, code4, instrument_id in db.session.execute(
            select(Instrument.provider_id, prefix, func.min(Instrument.id))
            .where(Instrument.provider_id.in_(set(provider_ids.values())))
            .group_by(Instrument.provider_id, prefix)
        )
    }
    rows: list[dict[str, Any]] = []
    for service in wanted:
        provider_id = provider_ids[service.provider_key]
        row = dict(service.fields)
        row.update(
            provider_id=provider_id,
            instrument_id=first_instrument.get((provider_id, service.instrument_prefix)),
            created_at=now,
            updated_at=now,
        )
        probe = _transient(ServiceItem, row)
        refresh_service_item_search(probe)
        row.update(search_text=probe.search_text, search_tokens=probe.search_tokens)
        rows.append(row)
    db.session.execute(insert(_SERVICE_ITEM), rows)
    summary.add("service items", len(rows))


# --- totals ------------------------------------------------------------------------------


def _totals() -> dict[str, int]:
    totals: dict[str, int] = {"regions": _count(select(func.count(Region.id)))}
    for kind in (OrgKind.PLATFORM, OrgKind.AUTHORITY, OrgKind.PROVIDER, OrgKind.ENTERPRISE):
        totals[f"organizations ({kind})"] = _count(
            select(func.count(Organization.id)).where(Organization.kind == kind)
        )
    totals["users"] = _count(select(func.count(User.id)))
    totals["instruments"] = _count(select(func.count(Instrument.id)))
    totals["instrument prices"] = _count(select(func.count()).select_from(InstrumentPrice))
    totals["service items"] = _count(select(func.count(ServiceItem.id)))
    totals["bookings"] = _count(select(func.count(Booking.id)))
    totals["service orders"] = _count(select(func.count(ServiceOrder.id)))
    totals["utilisation snapshots"] = _count(select(func.count(UtilisationSnapshot.id)))
    return totals


def _count(stmt: Any) -> int:
    return int(db.session.scalar(stmt) or 0)


# --- orders: a past and a near future for the dashboards ------------------------------

# Every demo order carries an idempotency key with these prefixes: while one
# exists, the demo's orders are there and a re-run leaves them alone.
BOOKING_KEY = "demo-b-"
SERVICE_ORDER_KEY = "demo-s-"
HISTORY_BOOKINGS = 480
HISTORY_PROVIDERS = 20  # besides provider@demo.yrd's institute
HISTORY_SHARE_OWN = 0.35  # of the history on provider@demo.yrd's instruments
UPCOMING_REQUESTED = 10
UPCOMING_CONFIRMED = 15
UPCOMING_DAYS = 14
MAX_INSTRUMENTS_PER_PROVIDER = 80  # the realistic set has at most 72
BOOKER_FIRMS = 14  # verified firms, besides the two demo ones, that get a booking contact
OWN_PROVIDER = "provider:sic-jd"  # provider@demo.yrd's
SECOND_PROVIDER = "provider:sinano"  # provider2@demo.yrd's
DEMO_FIRM = "enterprise:demo-jiading"
DEMO_FIRM_SUZHOU = "enterprise:demo-suzhou"
# Demo bookings keep this much room between them on an instrument: a late
# check-out or an early check-in never runs into the neighbouring session.
_GAP = timedelta(hours=2)

_BOOKING = cast(Table, Booking.__table__)
_AUDIT_EVENT = cast(Table, AuditEvent.__table__)

_PURPOSES = (
    "新材料样品成分分析",
    "产品质量一致性检测",
    "研发样品表征",
    "失效分析",
    "工艺优化对比实验",
    "客户来料检验",
    "国家标准方法验证",
    "小批量试产样品测试",
)
_SAMPLE_NOTES = (
    "",
    "样品 3 个，常温保存",
    "粉末样品约 5 g",
    "薄膜样品，尺寸 10 mm × 10 mm",
    "液体样品 2 瓶，需避光",
    "金属块样 2 件",
)
_REJECT_REASONS = (
    "该时段仪器安排期间核查，请改约其他时段。",
    "样品前处理要求不符，请先与机组联系确认。",
    "该时段已安排内部课题测试，抱歉。",
)
_CANCEL_REASONS = ("项目计划调整", "样品未按时准备好", "改约其他时段", "")
_COMMENTS = ("数据质量好，老师很专业。", "按时完成，沟通顺畅。", "机时安排灵活。", "", "", "")


@dataclass
class _Bookable:
    """An instrument as the demo books it: usable prices, opening hours, and
    the intervals already taken (padded)."""

    instrument: Instrument
    prices: list[InstrumentPrice]
    durations: list[int]  # minutes: multiples of the slot, 1–4 h, within the policy
    open_minute: int
    window: int  # opening minutes in a day
    weekdays: str
    busy: list[tuple[datetime, datetime]] = field(default_factory=list)

    def free(self, starts_at: datetime, ends_at: datetime) -> bool:
        return all(ends_at + _GAP <= s or starts_at >= e + _GAP for s, e in self.busy)

    def take(self, starts_at: datetime, ends_at: datetime) -> None:
        self.busy.append((starts_at, ends_at))


def _bookable(instrument: Instrument) -> _Bookable | None:
    prices = [
        p
        for p in sorted(instrument.prices, key=lambda p: p.mode)
        if not ServiceMode(p.mode).needs_training
    ]
    slot = instrument.slot_minutes
    if not instrument.is_bookable or not prices or slot <= 0:
        return None
    open_minute = instrument.open_from.hour * 60 + instrument.open_from.minute
    until = instrument.open_until.hour * 60 + instrument.open_until.minute
    window = until - open_minute
    low, high = max(60, instrument.min_minutes), min(240, instrument.max_minutes, window)
    durations = [m for m in range(slot, high + 1, slot) if m >= low]
    if not durations:
        return None
    return _Bookable(instrument, prices, durations, open_minute, window, instrument.open_weekdays)


def _pick_slot(rng: random.Random, b: _Bookable, day: date) -> tuple[datetime, datetime] | None:
    """An opening-hours-aligned interval on `day`, or None when it is closed."""
    if str(day.isoweekday()) not in b.weekdays:
        return None
    minutes = rng.choice(b.durations)
    slot = b.instrument.slot_minutes
    start = b.open_minute + slot * rng.randrange((b.window - minutes) // slot + 1)
    starts_at = at_local(day, dt_time(start // 60, start % 60))
    return starts_at, starts_at + timedelta(minutes=minutes)


@dataclass
class _Order:
    """One demo booking: its row and the audit trail of how it got there."""

    row: dict[str, Any]
    events: list[tuple[User | None, str, str | None, str, datetime, dict[str, Any]]]


def _minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


class _OrderMaker:
    """Builds the demo's bookings in memory, never two on one instrument at once."""

    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        settings: OrderSettings,
        provider_staff: dict[int, User],
    ) -> None:
        self.rng = rng
        self.now = now
        self.settings = settings
        self.provider_staff = provider_staff
        self.orders: list[_Order] = []
        self.no_show_pairs: set[tuple[int, int]] = set()
        self.week_minutes: Counter[tuple[int, int, date]] = Counter()
        self.future: Counter[tuple[int, int]] = Counter()

    def _fits_quotas(self, b: _Bookable, firm: int, starts_at: datetime, minutes: int) -> bool:
        instrument = b.instrument
        week = (instrument.id, firm, week_start(local(starts_at).date()))
        if (
            instrument.max_hours_per_week is not None
            and self.week_minutes[week] + minutes > instrument.max_hours_per_week * 60
        ):
            return False
        return not (
            starts_at > self.now
            and instrument.max_future_bookings is not None
            and self.future[(instrument.id, firm)] >= instrument.max_future_bookings
        )

    def add(
        self,
        b: _Bookable,
        booker: tuple[Organization, User],
        starts_at: datetime,
        ends_at: datetime,
        outcome: str,
        created_at: datetime | None = None,
    ) -> bool:
        """Book [starts_at, ends_at) and play it to `outcome`: requested,
        confirmed, closed, auto_closed, completed, cancelled, rejected,
        expired or no_show. False (nothing added) when the slot or a quota
        says no."""
        rng, now = self.rng, self.now
        firm, user = booker
        instrument = b.instrument
        minutes = int((ends_at - starts_at).total_seconds() // 60)
        if not b.free(starts_at, ends_at) or not self._fits_quotas(b, firm.id, starts_at, minutes):
            return False
        price = rng.choice(b.prices)
        approval = instrument.approval_required
        if outcome in ("requested", "rejected", "expired") and not approval:
            return False
        if outcome == "no_show" and (firm.id, instrument.id) in self.no_show_pairs:
            outcome = "closed"
        if created_at is None:
            ahead = timedelta(days=price.lead_days + rng.uniform(0.2, 10))
            created_at = _minute(starts_at - ahead)
        elif starts_at < created_at + timedelta(days=price.lead_days):
            return False
        policy = booking_policy(instrument, price, self.settings)
        quote_fen = quote(price.price_fen_per_hour, starts_at, ends_at)
        staff = self.provider_staff.get(instrument.provider_id)
        first = OrderStatus.REQUESTED if approval else OrderStatus.CONFIRMED
        row: dict[str, Any] = {
            "instrument_id": instrument.id,
            "enterprise_id": firm.id,
            "user_id": user.id,
            "service_mode": price.mode,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "purpose": rng.choice(_PURPOSES),
            "sample_notes": rng.choice(_SAMPLE_NOTES),
            "price_fen_per_hour": price.price_fen_per_hour,
            "quote_fen": quote_fen,
            "policy": policy,
            "respond_by": (
                min(starts_at, created_at + timedelta(hours=self.settings.approval_window_hours))
                if approval
                else None
            ),
            "decided_at": None if approval else created_at,
            "created_at": created_at,
        }
        events: list[tuple[User | None, str, str | None, str, datetime, dict[str, Any]]] = [
            (user, "booking.place", None, first, created_at, {})
        ]
        status: str = first

        def move(actor: User | None, action: str, to: str, at: datetime, **detail: Any) -> None:
            nonlocal status
            events.append((actor, f"booking.{action}", status, to, at, detail))
            status = to

        if approval:
            respond_by = row["respond_by"]
            decided = _minute(created_at + timedelta(hours=rng.uniform(1, 30)))
            decided = min(decided, respond_by - timedelta(minutes=5), now - timedelta(minutes=5))
            if outcome == "rejected":
                reason = rng.choice(_REJECT_REASONS)
                row.update(decided_at=decided, decision_reason=reason)
                move(staff, "reject", OrderStatus.REJECTED, decided, reason=reason)
            elif outcome == "expired":
                move(None, "expire", OrderStatus.EXPIRED, respond_by + timedelta(minutes=5))
            elif outcome != "requested":
                if decided <= created_at:
                    return False
                row["decided_at"] = decided
                move(staff, "approve", OrderStatus.CONFIRMED, decided)
        if outcome == "cancelled":
            latest = min(starts_at, now) - timedelta(hours=1)
            earliest = max(created_at, row["decided_at"] or created_at) + timedelta(minutes=30)
            if latest <= earliest:
                return False
            at = _minute(earliest + (latest - earliest) * rng.random())
            fee = cancellation_fee(quote_fen, policy, starts_at, at, status == "confirmed")
            reason = rng.choice(_CANCEL_REASONS)
            row.update(cancel_reason=reason or None, cancellation_fee_fen=fee)
            move(user, "cancel", OrderStatus.CANCELLED, at, fee_fen=fee)
        elif outcome == "no_show":
            grace = timedelta(minutes=self.settings.no_show_grace_minutes + 5)
            move(None, "no_show", OrderStatus.NO_SHOW, starts_at + grace)
            self.no_show_pairs.add((firm.id, instrument.id))
        elif outcome in ("closed", "auto_closed", "completed"):
            checked_in = starts_at + timedelta(minutes=rng.randint(-15, 15))
            if rng.random() < 0.2:
                checked_out = ends_at + timedelta(minutes=rng.randint(15, 100))  # overran
            else:
                checked_out = ends_at + timedelta(minutes=rng.randint(-25, 10))
            completed = checked_out + timedelta(minutes=rng.randint(2, 40))
            if completed >= now:
                return False
            charge = usage_charge(
                price.price_fen_per_hour, policy, starts_at, ends_at, checked_in, checked_out
            )
            row.update(
                checked_in_at=checked_in,
                checked_out_at=checked_out,
                charge_fen=charge,
                completed_at=completed,
            )
            move(staff, "check_in", OrderStatus.IN_USE, checked_in)
            move(staff, "complete", OrderStatus.COMPLETED, completed, charge_fen=charge)
            window = timedelta(days=self.settings.confirm_window_days)
            confirmed = _minute(completed + timedelta(hours=rng.uniform(2, 96)))
            auto = completed + window + timedelta(minutes=rng.randint(5, 60))
            recent = completed > now - timedelta(days=5) and rng.random() < 0.6
            if outcome == "closed" and confirmed < now and not recent:
                rating = rng.choices((3, 4, 5), weights=(1, 4, 6))[0]
                comment = rng.choice(_COMMENTS)
                row.update(firm_confirmed_at=confirmed, rating=rating)
                row.update(rating_comment=comment or None)
                move(user, "confirm", OrderStatus.CLOSED, confirmed, rating=rating)
            elif outcome == "auto_closed" and auto < now:
                move(None, "auto_close", OrderStatus.CLOSED, auto)
            elif completed + window <= now:
                return False  # the nightly job would have closed it
        row.update(
            status=status,
            updated_at=events[-1][4],
            idempotency_key=f"{BOOKING_KEY}{len(self.orders) + 1:04d}",
        )
        b.take(starts_at, ends_at)
        if status not in ("rejected", "expired", "cancelled"):
            self.week_minutes[(instrument.id, firm.id, week_start(local(starts_at).date()))] += (
                minutes
            )
        if status in ("requested", "confirmed"):
            self.future[(instrument.id, firm.id)] += 1
        self.orders.append(_Order(row, events))
        return True


_HISTORY_OUTCOMES = (
    ("closed", 80),
    ("auto_closed", 5),
    ("cancelled", 5),
    ("rejected", 3),
    ("expired", 2),
    ("no_show", 2),
)


def _seed_orders(
    orgs: dict[str, Organization], summary: SeedSummary, say: Progress, now: datetime
) -> None:
    """Six months of bookings on provider@demo.yrd's institute and 20 other
    providers, the next two weeks' requests and confirmations on the
    institute's instruments, a few service orders, their audit trails, and
    the utilisation snapshots of those months. Skipped as a whole once any
    demo order exists."""
    demo_keys = (
        select(Booking.id).where(Booking.idempotency_key.like(f"{BOOKING_KEY}%")).limit(1),
        select(ServiceOrder.id)
        .where(ServiceOrder.idempotency_key.like(f"{SERVICE_ORDER_KEY}%"))
        .limit(1),
    )
    if any(db.session.scalar(stmt) is not None for stmt in demo_keys):
        return
    users = {
        u.email: u
        for u in db.session.scalars(
            select(User).where(User.email.in_([d.email for d in DEMO_LOGINS]))
        )
    }
    own = orgs.get(OWN_PROVIDER)
    bookers = _bookers(orgs, users, summary, now)
    if own is None or len(bookers) < 2:
        return
    rng = random.Random(f"{demo_data.SEED}-orders")
    settings = OrderSettings.from_config(current_app.config)
    provider_staff = {
        users[d.email].organization_id: users[d.email]
        for d in DEMO_LOGINS
        if d.org.startswith("provider:") and d.email in users
    }
    # provider2@demo.yrd's institute, and more picked at random.
    others = sorted(
        k for k in orgs if k.startswith("provider:") and k not in (OWN_PROVIDER, SECOND_PROVIDER)
    )
    chosen = [SECOND_PROVIDER] if SECOND_PROVIDER in orgs else []
    chosen += rng.sample(others, min(HISTORY_PROVIDERS - len(chosen), len(others)))
    provider_ids = [own.id, *(orgs[key].id for key in chosen)]

    months = last_months(now, 6)
    first_day = months[0]
    today = local(now).date()
    by_provider = _bookables(provider_ids, at_local(first_day, dt_time(0)), now)
    maker = _OrderMaker(rng, now, settings, provider_staff)
    weights = [b_weight for _b, b_weight in bookers]
    firms = [booker for booker, _w in bookers]

    # The past: used, billed and mostly rated; a few that went otherwise.
    own_bookables = by_provider.get(own.id, [])
    other_bookables = [b for pid in provider_ids[1:] for b in by_provider.get(pid, [])]
    days = [first_day + timedelta(days=n) for n in range((today - first_day).days)]
    outcomes, outcome_weights = zip(*_HISTORY_OUTCOMES, strict=True)
    attempts = 0
    while len(maker.orders) < HISTORY_BOOKINGS and days and attempts < HISTORY_BOOKINGS * 20:
        attempts += 1
        pool = own_bookables if rng.random() < HISTORY_SHARE_OWN else other_bookables
        if not pool:
            pool = own_bookables or other_bookables
        if not pool:
            break
        b = rng.choice(pool)
        slot = _pick_slot(rng, b, rng.choice(days))
        if slot is None:
            continue
        booker = rng.choices(firms, weights)[0]
        maker.add(b, booker, *slot, rng.choices(outcomes, outcome_weights)[0])
    history = len(maker.orders)

    # The next two weeks on provider@demo.yrd's instruments: requests to
    # answer (some by the demo firm), confirmed sessions to record.
    upcoming_days = [today + timedelta(days=n) for n in range(1, UPCOMING_DAYS + 1)]
    for outcome, wanted in (("requested", UPCOMING_REQUESTED), ("confirmed", UPCOMING_CONFIRMED)):
        made = attempts = 0
        pool = [
            b for b in own_bookables if outcome != "requested" or b.instrument.approval_required
        ]
        while made < wanted and pool and attempts < wanted * 50:
            attempts += 1
            b = rng.choice(pool)
            slot = _pick_slot(rng, b, rng.choice(upcoming_days))
            if slot is None:
                continue
            booker = firms[0] if made < 3 else rng.choices(firms, weights)[0]
            if outcome == "requested":
                placed = now - timedelta(hours=rng.uniform(1, 40))
            else:
                placed = now - timedelta(hours=rng.uniform(2, 24 * 6))
            if maker.add(b, booker, *slot, outcome, created_at=_minute(placed)):
                made += 1

    _insert_bookings(maker.orders)
    service_orders = _seed_service_orders(orgs, own, firms, provider_staff, rng, settings, now)
    db.session.flush()
    snapshots = sum(snapshot_month(month, now) for month in months)
    for kind, count in (
        ("bookings", len(maker.orders)),
        ("service orders", service_orders),
        ("utilisation snapshots", snapshots),
    ):
        if count:
            summary.add(kind, count)
    say(
        f"orders: {history:,} past and {len(maker.orders) - history} upcoming bookings, "
        f"{service_orders} service orders"
    )


def _bookers(
    orgs: dict[str, Organization], users: dict[str, User], summary: SeedSummary, now: datetime
) -> list[tuple[tuple[Organization, User], int]]:
    """The firms that book, each with its booking user and a weight: the two
    demo firms (their demo sign-ins) and a few verified firms, which get a
    contact user sharing the demo password."""
    out: list[tuple[tuple[Organization, User], int]] = []
    for key, email, weight in (
        (DEMO_FIRM, "enterprise@demo.yrd", 18),
        (DEMO_FIRM_SUZHOU, "enterprise.suzhou@demo.yrd", 12),
    ):
        org, user = orgs.get(key), users.get(email)
        if org is not None and user is not None and org.is_verified:
            out.append(((org, user), weight))
    template = users.get("enterprise@demo.yrd") or next(iter(users.values()), None)
    if template is None:
        return out
    specs = [
        spec
        for spec in demo_data.enterprises()
        if f"enterprise:{spec.key}" not in (DEMO_FIRM, DEMO_FIRM_SUZHOU)
        and orgs[f"enterprise:{spec.key}"].is_verified
        and not spec.key.startswith("demo-")
    ]
    picked = random.Random(f"{demo_data.SEED}-bookers").sample(specs, min(BOOKER_FIRMS, len(specs)))
    emails = [f"orders.{spec.key}@demo.yrd" for spec in picked]
    existing = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(emails)))}
    for spec, email in zip(picked, emails, strict=True):
        org = orgs[f"enterprise:{spec.key}"]
        user = existing.get(email)
        if user is None:
            user = User(
                organization=org,
                email=email,
                name=spec.contact_name,
                role=UserRole.STAFF,
                locale="zh_Hans",
                active=True,
                password_hash=template.password_hash,
                password_changed_at=now,
                created_at=now,
            )
            db.session.add(user)
            summary.add("users")
        out.append(((org, user), 5))
    db.session.flush()
    return out


def _bookables(
    provider_ids: list[int], since: datetime, now: datetime
) -> dict[int, list[_Bookable]]:
    """The providers' bookable instruments, by provider, with what their
    calendars already hold (other bookings, downtime) marked busy."""
    # The first instruments of each provider (all of them in the realistic
    # set): a 100,000-instrument load books the same few hundred.
    per_provider: Counter[int] = Counter()
    wanted: list[int] = []
    for instrument_id, provider_id in db.session.execute(
        select(Instrument.id, Instrument.provider_id)
        .where(Instrument.provider_id.in_(provider_ids))
        .order_by(Instrument.provider_id, Instrument.internal_no, Instrument.id)
    ):
        per_provider[provider_id] += 1
        if per_provider[provider_id] <= MAX_INSTRUMENTS_PER_PROVIDER:
            wanted.append(instrument_id)
    instruments = db.session.scalars(
        select(Instrument)
        .where(Instrument.id.in_(wanted))
        .options(selectinload(Instrument.prices))
        .order_by(Instrument.provider_id, Instrument.internal_no, Instrument.id)
    ).all()
    out: dict[int, list[_Bookable]] = {}
    by_id: dict[int, _Bookable] = {}
    for instrument in instruments:
        b = _bookable(instrument)
        if b is not None:
            out.setdefault(instrument.provider_id, []).append(b)
            by_id[instrument.id] = b
    if not by_id:
        return out
    taken = db.session.execute(
        select(Booking.instrument_id, Booking.starts_at, Booking.ends_at).where(
            Booking.instrument_id.in_(list(by_id)),
            Booking.ends_at > since - timedelta(days=1),
        )
    ).all()
    closed = db.session.execute(
        select(Downtime.instrument_id, Downtime.starts_at, Downtime.ends_at).where(
            Downtime.instrument_id.in_(list(by_id)),
            Downtime.ends_at > since - timedelta(days=1),
        )
    ).all()
    for instrument_id, starts_at, ends_at in [*taken, *closed]:
        by_id[instrument_id].take(starts_at, ends_at)
    return out


def _insert_bookings(orders: list[_Order]) -> None:
    """The bookings, then their audit trails, each in multi-row INSERTs.

    The events are the rows `booking.audit.services.record` writes for the
    same transitions; a few thousand ORM objects would be inserted one by
    one on SQLite (they need their ids back), several times slower."""
    if not orders:
        return
    columns = sorted({name for order in orders for name in order.row})
    rows = [{name: order.row.get(name) for name in columns} for order in orders]
    returned = db.session.execute(
        insert(_BOOKING).returning(_BOOKING.c.id, _BOOKING.c.idempotency_key), rows
    )
    ids = {key: booking_id for booking_id, key in returned}
    events = [
        {
            "at": at,
            "actor_user_id": actor.id if actor else None,
            "actor_org_id": actor.organization_id if actor else None,
            "action": action,
            "object_type": "booking",
            "object_id": ids[order.row["idempotency_key"]],
            "from_state": before,
            "to_state": after,
            "detail": detail,
        }
        for order in orders
        for actor, action, before, after, at, detail in order.events
    ]
    for chunk in _chunks(events, CHUNK):
        db.session.execute(insert(_AUDIT_EVENT), chunk)


def _seed_service_orders(
    orgs: dict[str, Organization],
    own: Organization,
    firms: list[tuple[Organization, User]],
    provider_staff: dict[int, User],
    rng: random.Random,
    settings: OrderSettings,
    now: datetime,
) -> int:
    """A handful of testing orders on provider@demo.yrd's institute's service
    items (or a testing body's, if it offers none), one in each state."""
    items = list(
        db.session.scalars(
            select(ServiceItem)
            .where(ServiceItem.provider_id == own.id, ServiceItem.active.is_(True))
            .order_by(ServiceItem.code)
        )
    )
    if not items:
        testing = [
            f"provider:{p.key}" for p in demo_data.providers() if p.provider_type == "testing_body"
        ]
        for key in testing:
            org = orgs.get(key)
            if org is None:
                continue
            items = list(
                db.session.scalars(
                    select(ServiceItem)
                    .where(ServiceItem.provider_id == org.id, ServiceItem.active.is_(True))
                    .order_by(ServiceItem.code)
                )
            )
            if items:
                break
    if not items or not firms:
        return 0
    this_week = week_start(local(now).date())
    # (status, booker, weeks from this week, days since placed)
    plan = (
        ("requested", firms[0], 1, 0.2),
        ("requested", firms[-1], 2, 1.0),
        ("confirmed", firms[1 % len(firms)], 1, 2.0),
        ("in_use", firms[2 % len(firms)], 0, 6.0),
        ("completed", firms[0], -1, 12.0),
        ("closed", firms[3 % len(firms)], -4, 34.0),
        ("closed", firms[0], -8, 62.0),
        ("rejected", firms[4 % len(firms)], -2, 18.0),
        ("cancelled", firms[1 % len(firms)], -3, 25.0),
    )
    made = 0
    for n, (status, (firm, user), weeks, days_ago) in enumerate(plan, start=1):
        item = items[(n - 1) % len(items)]
        week = this_week + timedelta(weeks=weeks)
        room = remaining_capacity(item, week)
        quantity = min(room, rng.randint(1, 6))
        if quantity < 1:
            continue
        placed = _minute(now - timedelta(days=days_ago))
        order = ServiceOrder(
            service_item_id=item.id,
            enterprise_id=firm.id,
            user_id=user.id,
            quantity=quantity,
            week_start=week,
            status=OrderStatus.REQUESTED,
            purpose=rng.choice(_PURPOSES),
            sample_notes=rng.choice(_SAMPLE_NOTES[1:]),
            unit_price_fen=item.unit_price_fen,
            quote_fen=item.unit_price_fen * quantity,
            policy=service_policy(item, settings),
            idempotency_key=f"{SERVICE_ORDER_KEY}{n:02d}",
            respond_by=placed + timedelta(hours=settings.approval_window_hours),
            created_at=placed,
            updated_at=placed,
        )
        db.session.add(order)
        db.session.flush()
        staff = provider_staff.get(item.provider_id)
        trail: list[tuple[User | None, str, str, datetime, dict[str, Any]]] = [
            (user, "place", OrderStatus.REQUESTED, placed, {"quantity": quantity})
        ]
        decided = placed + timedelta(hours=rng.uniform(2, 20))
        if status == "rejected":
            order.decided_at = decided
            order.decision_reason = rng.choice(_REJECT_REASONS)
            trail.append((staff, "reject", OrderStatus.REJECTED, decided, {}))
        elif status != "requested":
            order.decided_at = decided
            trail.append((staff, "accept", OrderStatus.CONFIRMED, decided, {}))
        if status == "cancelled":
            at = decided + timedelta(days=1)
            order.cancel_reason = rng.choice(_CANCEL_REASONS[:3])
            trail.append((user, "cancel", OrderStatus.CANCELLED, at, {}))
        if status in ("in_use", "completed", "closed"):
            received = decided + timedelta(days=rng.uniform(1, 3))
            order.samples_received_at = received
            trail.append((staff, "receive", OrderStatus.IN_USE, received, {}))
        if status in ("completed", "closed"):
            done = min(now - timedelta(days=1), received + timedelta(days=item.turnaround_days))
            # The report itself stays with the provider: no file for the demo.
            order.samples_tested = quantity
            order.charge_fen = item.unit_price_fen * quantity
            order.completed_at = done
            billed = {"samples_tested": quantity, "charge_fen": order.charge_fen}
            trail.append((staff, "complete", OrderStatus.COMPLETED, done, billed))
        if status == "closed":
            at = done + timedelta(days=rng.uniform(0.5, 3))
            order.firm_confirmed_at = at
            order.rating = rng.choice((4, 5))
            trail.append((user, "confirm", OrderStatus.CLOSED, at, {"rating": order.rating}))
        before: str | None = None
        for actor, action, to, at, detail in trail:
            if action == "place":
                detail = {**detail, "week_start": week.isoformat()}
            record(
                actor,
                f"service_order.{action}",
                "service_order",
                order.id,
                from_state=before,
                to_state=to,
                now=at,
                **detail,
            )
            before = to
        order.status = trail[-1][2]
        order.updated_at = trail[-1][3]
        made += 1
    return made


# --- internal use: what makes 共享率 mean something ------------------------------------------

# The providers' own use of the instruments the demo history booked, so that
# 共享率 = 对外服务机时 / 有效工作机时 looks like the authorities' figures:
# about 16–17 % nationally, more on a pooled platform's shared instruments.
# Each instrument gets a target rate; its own use fills the rest of its
# effective hours, in sessions that keep clear of its bookings.
INTERNAL_RATE_OWN = (0.20, 0.40)  # provider@demo.yrd's institute: actively shared
INTERNAL_RATE_OTHERS = (0.08, 0.24)
_INTERNAL_GAP = timedelta(minutes=30)
_INTERNAL_MINUTES = (90, 120, 180, 240, 300, 360, 480)
_INTERNAL_PURPOSES = (
    "课题组科研测试",
    "研究生论文实验",
    "教学实验",
    "期间核查",
    "方法开发",
    "仪器性能验证",
    "内部质控样测试",
)
_INTERNAL_USE = cast(Table, InternalUse.__table__)


def _seed_internal_use(
    orgs: dict[str, Organization], summary: SeedSummary, say: Progress, now: datetime
) -> None:
    """Six months of internal use on the instruments whose demo bookings were
    used, then the months' utilisation snapshots again. Skipped as a whole
    once any of those instruments has internal use (a re-run, or a provider
    who has recorded some)."""
    used_statuses = (OrderStatus.COMPLETED, OrderStatus.CLOSED)
    months = last_months(now, 6)
    since = at_local(months[0], dt_time(0))
    demo_bookings = db.session.execute(
        select(
            Booking.instrument_id,
            Instrument.provider_id,
            Booking.enterprise_id,
            Booking.status,
            Booking.starts_at,
            Booking.ends_at,
            Booking.checked_in_at,
            Booking.checked_out_at,
        )
        .join(Instrument, Instrument.id == Booking.instrument_id)
        .where(Booking.idempotency_key.like(f"{BOOKING_KEY}%"), Booking.ends_at > since)
    ).all()
    external: Counter[int] = Counter()
    provider_of: dict[int, int] = {}
    busy: dict[int, list[tuple[datetime, datetime]]] = {}
    for row in demo_bookings:
        start = min(row.starts_at, row.checked_in_at or row.starts_at)
        end = max(row.ends_at, row.checked_out_at or row.ends_at)
        busy.setdefault(row.instrument_id, []).append((start, end))
        if (
            row.status in used_statuses
            and row.checked_in_at is not None
            and row.checked_out_at is not None
            and row.checked_in_at >= since
            and row.enterprise_id != row.provider_id
        ):
            external[row.instrument_id] += int(
                (row.checked_out_at - row.checked_in_at).total_seconds() // 60
            )
            provider_of[row.instrument_id] = row.provider_id
    instrument_ids = sorted(external)
    if not instrument_ids:
        return
    exists = select(InternalUse.id).where(InternalUse.instrument_id.in_(instrument_ids)).limit(1)
    if db.session.scalar(exists) is not None:
        return
    for instrument_id, starts_at, ends_at in db.session.execute(
        select(Downtime.instrument_id, Downtime.starts_at, Downtime.ends_at).where(
            Downtime.instrument_id.in_(instrument_ids), Downtime.ends_at > since
        )
    ):
        busy.setdefault(instrument_id, []).append((starts_at, ends_at))

    own = orgs.get(OWN_PROVIDER)
    staff = {
        u.organization_id: u
        for u in db.session.scalars(
            select(User).where(
                User.email.in_([d.email for d in DEMO_LOGINS if d.org.startswith("provider:")])
            )
        )
    }
    rng = random.Random(f"{demo_data.SEED}-internal-use")
    today = local(now).date()
    days = [months[0] + timedelta(days=n) for n in range((today - months[0]).days)]
    rows: list[dict[str, Any]] = []
    for instrument_id in instrument_ids:
        provider_id = provider_of[instrument_id]
        low, high = INTERNAL_RATE_OWN if own and provider_id == own.id else INTERNAL_RATE_OTHERS
        rate = rng.uniform(low, high)
        wanted = external[instrument_id] * (1 - rate) / rate
        taken = busy.get(instrument_id, [])
        recorder = staff.get(provider_id)
        minutes = attempts = 0
        while minutes < wanted and days and attempts < 400:
            attempts += 1
            day = rng.choice(days)
            if day.isoweekday() == 7:
                continue
            length = rng.choice(_INTERNAL_MINUTES)
            start = at_local(day, dt_time(rng.randrange(8, 15), rng.choice((0, 30))))
            end = start + timedelta(minutes=length)
            if end > now or any(
                start < e + _INTERNAL_GAP and end + _INTERNAL_GAP > s for s, e in taken
            ):
                continue
            taken.append((start, end))
            minutes += length
            rows.append(
                {
                    "instrument_id": instrument_id,
                    "starts_at": start,
                    "ends_at": end,
                    "purpose": rng.choice(_INTERNAL_PURPOSES),
                    "recorded_by_id": recorder.id if recorder else None,
                    "recorded_at": min(now, _minute(end + timedelta(hours=rng.uniform(1, 48)))),
                    "voided_at": None,
                }
            )
    _insert_internal_use(rows, staff)
    if rows:
        summary.add("internal use entries", len(rows))
        for month in months:
            snapshot_month(month, now)
    say(f"internal use: {len(rows):,} entries on {len(instrument_ids)} instruments")


def _insert_internal_use(rows: list[dict[str, Any]], staff: dict[int, User]) -> None:
    """The entries and their audit events, in multi-row INSERTs (the events
    `booking.orders.internal_use` writes for an entry recorded by hand)."""
    recorders = {u.id: u for u in staff.values()}
    for chunk in _chunks(rows, CHUNK):
        ids = db.session.scalars(
            insert(_INTERNAL_USE).returning(_INTERNAL_USE.c.id, sort_by_parameter_order=True),
            chunk,
        ).all()
        events = []
        for entry_id, row in zip(ids, chunk, strict=True):
            actor = recorders.get(row["recorded_by_id"])
            events.append(
                {
                    "at": row["recorded_at"],
                    "actor_user_id": actor.id if actor else None,
                    "actor_org_id": actor.organization_id if actor else None,
                    "action": "internal_use.record",
                    "object_type": "internal_use",
                    "object_id": entry_id,
                    "from_state": None,
                    "to_state": "recorded",
                    "detail": {
                        "instrument_id": row["instrument_id"],
                        "starts_at": row["starts_at"].isoformat(),
                        "ends_at": row["ends_at"].isoformat(),
                        "purpose": row["purpose"],
                        "via": "demo",
                    },
                }
            )
        db.session.execute(insert(_AUDIT_EVENT), events)
