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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any, TypeVar, cast

from sqlalchemy import Table, func, insert, select, text

from booking.accounts.models import (
    Organization,
    OrgKind,
    Region,
    User,
    UserRole,
    VerificationStatus,
)
from booking.extensions import db, utcnow
from instruments import demo_data
from instruments.demo_data import EnterpriseSpec, ProviderSpec
from instruments.models import Instrument, InstrumentPrice, ServiceItem
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
        "verify the pending firm 上海菊园智能装备有限公司",
    ),
    DemoLogin(
        "authority (Suzhou)",
        "authority.suzhou@demo.yrd",
        "苏州科技局管理员",
        "authority:suzhou",
        "verify Suzhou firms, regional figures",
    ),
    DemoLogin(
        "authority (Wenzhou)",
        "authority.wenzhou@demo.yrd",
        "温州科技局管理员",
        "authority:wenzhou",
        "verify Wenzhou firms, regional figures",
    ),
    DemoLogin(
        "provider staff (Jiading)",
        "provider@demo.yrd",
        "硅酸盐所测试平台",
        "provider:sic-jd",
        "edit own instruments (色谱, 质谱), prices, import CSV",
        UserRole.STAFF,
    ),
    DemoLogin(
        "provider admin (Suzhou)",
        "provider2@demo.yrd",
        "纳米所平台管理员",
        "provider:sinano",
        "another provider's catalogue: cannot edit Jiading's",
    ),
    DemoLogin(
        "enterprise (Jiading)",
        "enterprise@demo.yrd",
        "嘉驰科技研发部",
        "enterprise:demo-jiading",
        "search 色谱, open an instrument, book later",
    ),
    DemoLogin(
        "enterprise (Suzhou)",
        "enterprise.suzhou@demo.yrd",
        "纳睿微电子采购",
        "enterprise:demo-suzhou",
        "cross-region search (Jiading instruments)",
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

    summary.totals = _totals()
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
    return totals


def _count(stmt: Any) -> int:
    return int(db.session.scalar(stmt) or 0)
