"""Public catalogue queries: parse a query string, build one SELECT, run it.

Parsing never fails on junk: an unknown sort key falls back to the default,
pages are clamped, an unknown filter value or a price that is not a number is
dropped with a notice the page shows. Only a search term the database should
never see (too long, control characters) is refused, as `QueryRejected`
(HTTP 400 at the web edge).

What is public: instruments shared externally (外部共享) and active service
items, in both cases of verified provider organizations. Nothing else is
listed, and the detail look-ups answer None for anything else (404).

Speed at 100,000 instruments: a keyword goes through the GIN index on the
token array on PostgreSQL (see `instruments.search`); "newest" is the id order
(ids grow with creation, and the primary key index serves it); the count
is skipped when the first page already holds everything.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, Text, and_, cast, exists, func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import (
    InstrumentedAttribute,
    QueryableAttribute,
    contains_eager,
    joinedload,
    selectinload,
)

from booking.accounts.models import Organization, OrgKind, Region, VerificationStatus
from booking.core.pagination import Page, parse_int
from booking.core.validators import has_control_characters
from booking.db import LOCKED_IN_TRANSACTION, MAX_ID
from booking.errors import DomainError
from booking.extensions import db
from instruments.classification import CATEGORY_BY_CODE, SERVICE_CATEGORY_CODES
from instruments.models import (
    Downtime,
    Instrument,
    InstrumentPrice,
    InstrumentStatus,
    ServiceItem,
    ServiceMode,
    SharingMode,
)
from instruments.search import keyword_condition, split_terms

# The default order, with or without a keyword, is newest first: the id order,
# which the primary key index serves, so a page of a common term costs a few
# rows. (Ranking name matches first was tried: it sorts every match and
# missed the 50 ms target at 100,000 instruments.)
INSTRUMENT_SORT_KEYS = ("newest", "name", "price", "value")
SERVICE_SORT_KEYS = ("newest", "name", "price", "turnaround")
DEFAULT_SORT = "newest"
# Counting stops at the cap ("500+") once the table is large: an exact count
# of a common term at 100,000 instruments visits every match, far slower than
# the page itself. Below EXACT_COUNT_UP_TO rows (the largest id, one index
# look-up) counts are exact. Both can be set in the config.
# Sorts with an index behind them (primary key, price_from_fen / unit price).
_WALKABLE_SORTS = frozenset({"newest", "price"})

# Yuan with at most two decimals; nine digits of yuan is far above any fee.
_YUAN = re.compile(r"^\d{1,9}(?:\.\d{1,2})?$")
_SHORT_CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{1,2}")


class QueryRejected(DomainError):
    """The search term cannot be run (too long, control characters): HTTP 400."""

    code = "bad_query"


@dataclass
class CatalogueQuery:
    """What one list page was asked for, cleaned. `params` is the canonical
    query string (without page), so the pager and the sort headers rebuild
    the same search."""

    q: str = ""
    terms: list[str] = field(default_factory=list)
    region: Region | None = None
    institution: Organization | None = None
    category: str | None = None
    price_min_fen: int | None = None
    price_max_fen: int | None = None
    sort: str = DEFAULT_SORT
    page: int = 1
    notices: list[Any] = field(default_factory=list)
    params: dict[str, str] = field(default_factory=dict)

    @property
    def filtered(self) -> bool:
        return bool(self.terms) or len(set(self.params) - {"sort"}) > 0


@dataclass
class InstrumentQuery(CatalogueQuery):
    mode: str | None = None
    status: str | None = None


@dataclass
class ServiceQuery(CatalogueQuery):
    cma: bool = False
    cnas: bool = False


# --- parsing ---------------------------------------------------------------------


def _arg(args: Mapping[str, str], name: str) -> str:
    return (args.get(name) or "").strip()


def _parse_q(query: CatalogueQuery, args: Mapping[str, str]) -> None:
    raw = args.get("q") or ""
    limit = int(current_app.config["SEARCH_MAX_LENGTH"])
    if has_control_characters(raw):
        raise QueryRejected(_l("搜索词不能包含控制字符。"), field="q")
    if len(raw.strip()) > limit:
        raise QueryRejected(_l("搜索词太长：最多 %(limit)d 个字符。", limit=limit), field="q")
    query.q = raw.strip()
    query.terms = split_terms(query.q)
    if query.terms:
        query.params["q"] = query.q


def _parse_yuan(query: CatalogueQuery, args: Mapping[str, str], name: str) -> int | None:
    raw = unicodedata.normalize("NFKC", _arg(args, name)).replace(",", "")
    if not raw:
        return None
    if not _YUAN.match(raw):
        query.notices.append(_l("价格“%(value)s”不是有效的金额（元），已忽略。", value=raw[:20]))
        return None
    yuan, _, cents = raw.partition(".")
    query.params[name] = raw
    return int(yuan) * 100 + int(cents.ljust(2, "0") or 0)


def _parse_prices(query: CatalogueQuery, args: Mapping[str, str]) -> None:
    low = _parse_yuan(query, args, "price_min")
    high = _parse_yuan(query, args, "price_max")
    if low is not None and high is not None and low > high:
        # An inverted range is almost always a slip; answer what was meant.
        low, high = high, low
        query.params["price_min"], query.params["price_max"] = (
            query.params["price_max"],
            query.params["price_min"],
        )
        query.notices.append(_l("最低价高于最高价，已交换。"))
    query.price_min_fen, query.price_max_fen = low, high


def _parse_region(query: CatalogueQuery, args: Mapping[str, str]) -> None:
    code = _arg(args, "region")
    if not code:
        return
    region = db.session.scalar(select(Region).where(Region.code == code[:32]))
    if region is None:
        query.notices.append(_l("未知的区域“%(value)s”，已忽略。", value=code[:20]))
        return
    query.region = region
    query.params["region"] = region.code


def _parse_institution(query: CatalogueQuery, args: Mapping[str, str]) -> None:
    raw = _arg(args, "institution")
    if not raw:
        return
    org = None
    if re.fullmatch(r"[0-9]{1,10}", raw) and int(raw) <= MAX_ID:
        org = db.session.get(Organization, int(raw))
    if org is None or org.kind != OrgKind.PROVIDER or not org.is_verified:
        query.notices.append(_l("未知的服务机构“%(value)s”，已忽略。", value=raw[:20]))
        return
    query.institution = org
    query.params["institution"] = str(org.id)


def _parse_choice(
    query: CatalogueQuery,
    args: Mapping[str, str],
    name: str,
    allowed: Sequence[str],
    label: Any,
) -> str | None:
    value = _arg(args, name)
    if not value:
        return None
    if value not in allowed:
        query.notices.append(
            _l("未知的%(what)s“%(value)s”，已忽略。", what=label, value=value[:20])
        )
        return None
    query.params[name] = value
    return value


def _parse_sort_and_page(
    query: CatalogueQuery, args: Mapping[str, str], keys: Sequence[str]
) -> None:
    raw = _arg(args, "sort")
    query.sort = raw if raw.removeprefix("-") in keys else DEFAULT_SORT
    if query.sort != DEFAULT_SORT:
        query.params["sort"] = query.sort
    query.page = parse_int(args.get("page"), 1, 1, int(current_app.config["CATALOGUE_MAX_PAGE"]))


def _parse_common(query: CatalogueQuery, args: Mapping[str, str]) -> None:
    _parse_q(query, args)
    _parse_region(query, args)
    _parse_institution(query, args)


def parse_instrument_query(args: Mapping[str, str]) -> InstrumentQuery:
    """Read /instruments?q=&region=&institution=&category=&mode=&status=
    &price_min=&price_max=&sort=&page=. Raises QueryRejected for a search term
    that cannot be run; every other bad value is dropped with a notice."""
    query = InstrumentQuery()
    _parse_common(query, args)
    query.category = _parse_choice(query, args, "category", tuple(CATEGORY_BY_CODE), _l("仪器分类"))
    query.mode = _parse_choice(
        query, args, "mode", tuple(m.value for m in ServiceMode), _l("服务方式")
    )
    query.status = _parse_choice(
        query, args, "status", tuple(s.value for s in InstrumentStatus), _l("运行状态")
    )
    _parse_prices(query, args)
    _parse_sort_and_page(query, args, INSTRUMENT_SORT_KEYS)
    return query


def parse_service_query(args: Mapping[str, str]) -> ServiceQuery:
    """Read /services?q=&region=&institution=&category=&cma=1&cnas=1
    &price_min=&price_max=&sort=&page= (prices in yuan per sample)."""
    query = ServiceQuery()
    _parse_common(query, args)
    query.category = _parse_choice(query, args, "category", SERVICE_CATEGORY_CODES, _l("服务类别"))
    for flag in ("cma", "cnas"):
        if _arg(args, flag) in ("1", "on", "true", "y", "yes"):
            setattr(query, flag, True)
            query.params[flag] = "1"
    _parse_prices(query, args)
    _parse_sort_and_page(query, args, SERVICE_SORT_KEYS)
    return query


# --- what is public ----------------------------------------------------------------


def _public_provider() -> list[ColumnElement[bool]]:
    return [
        Organization.kind == OrgKind.PROVIDER,
        Organization.status == VerificationStatus.VERIFIED,
    ]


def _dialect() -> str:
    return db.engine.dialect.name


def _name_order(
    zh: InstrumentedAttribute[str], en: InstrumentedAttribute[str], locale: str
) -> ColumnElement[str]:
    if locale.startswith("en"):
        return func.coalesce(func.nullif(en, ""), zh)
    return zh  # type: ignore[return-value]


def _ordering(
    sort: str,
    locale: str,
    entity: type[Instrument] | type[ServiceItem],
    columns: Mapping[str, QueryableAttribute[Any]],
) -> list[ColumnElement[Any]]:
    descending = sort.startswith("-")
    key = sort.removeprefix("-")
    newest_first = entity.id.desc()
    if key == "name":
        column: ColumnElement[Any] = _name_order(entity.name_zh, entity.name_en, locale)
    elif key in columns:
        column = columns[key].expression
    else:  # newest; "-newest" is oldest first
        return [entity.id.asc() if descending else newest_first]
    primary = column.desc() if descending else column.asc()
    return [primary.nulls_last(), entity.id.asc()]


@dataclass(frozen=True)
class CataloguePage(Page[Any]):
    """A page whose total may be a lower bound: `capped` means "total or more"."""

    capped: bool = False


def _count_cap(entity: type[Instrument] | type[ServiceItem]) -> int | None:
    """How far to count: None (exactly) while the table is small."""
    config = current_app.config
    largest = db.session.scalar(select(func.max(entity.id))) or 0
    if largest <= int(config["CATALOGUE_EXACT_COUNT_UP_TO"]):
        return None
    return int(config["CATALOGUE_COUNT_CAP"])


# With more matches than the cap, a page is found fastest by walking the
# index of the sort order (primary key, price) and testing rows: a common
# term matches every few rows. The planner underestimates multi-bigram terms
# and would rather fetch and sort every match through the token index, so
# the walk gets the keyword in its LIKE-only form. Only for the first pages:
# deeper ones walk too far.
_WALK_MAX_PAGE = 5


def _run_page(
    stmt_for: Callable[[bool], Select[Any]],
    matches: Select[Any],
    page: int,
    per_page: int,
    walk_ok: bool,
    cap: int | None,
) -> CataloguePage:
    """One page; a page past the end shows the last page. The matches are
    counted first, up to `cap` (None: exactly); `stmt_for(walk)` gives the
    ordered query, written for an index walk when `walk` is true."""
    limited = matches if cap is None else matches.limit(cap + 1)
    found = int(db.session.scalar(select(func.count()).select_from(limited.subquery())) or 0)
    capped = cap is not None and found > cap
    total = found if cap is None else min(found, cap)
    page = min(page, max(1, -(-total // per_page)))
    items: Sequence[Any] = []
    if found:
        walk = walk_ok and capped and page <= _WALK_MAX_PAGE
        stmt = stmt_for(walk)
        items = db.session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return CataloguePage(items=items, number=page, per_page=per_page, total=total, capped=capped)


def _keyword(
    text: ColumnElement[str],
    token_array: ColumnElement[list[str]],
    terms: Sequence[str],
    indexed: bool = True,
) -> ColumnElement[bool]:
    """Every term as a substring. On PostgreSQL a term of one or two CJK
    characters is exactly its token (tokens are built from contiguous runs),
    so the LIKE recheck, which costs as much as the index scan, is left out.
    `indexed=False` gives the plain LIKE form, for a primary-key walk."""
    dialect = _dialect()
    if dialect != "postgresql" or not indexed:
        # keyword_condition adds the token test on PostgreSQL only.
        return keyword_condition(text, token_array, terms, dialect if indexed else "")
    exact = [t for t in terms if _SHORT_CJK.fullmatch(t)]
    rest = [t for t in terms if not _SHORT_CJK.fullmatch(t)]
    conditions: list[ColumnElement[bool]] = []
    if exact:
        conditions.append(token_array.op("@>")(cast(exact, postgresql.ARRAY(Text()))))
    if rest:
        conditions.append(keyword_condition(text, token_array, rest, dialect))
    return and_(*conditions)


# --- instruments ---------------------------------------------------------------------


def instrument_conditions(
    query: InstrumentQuery, indexed: bool = True
) -> list[ColumnElement[bool]]:
    """WHERE conditions for a public instrument search (Organization joined)."""
    conditions = [Instrument.sharing_mode == SharingMode.EXTERNAL, *_public_provider()]
    if query.terms:
        conditions.append(
            _keyword(
                Instrument.search_text.expression,
                Instrument.search_tokens.expression,
                query.terms,
                indexed,
            )
        )
    if query.region is not None:
        conditions.append(Organization.region_id == query.region.id)
    if query.institution is not None:
        conditions.append(Instrument.provider_id == query.institution.id)
    if query.category is not None:
        conditions.append(Instrument.category_code == query.category)
    if query.status is not None:
        conditions.append(Instrument.status == query.status)
    low, high = query.price_min_fen, query.price_max_fen
    if query.mode is not None:
        # The instrument offers the mode (and, with a price range, at that price).
        offered = [
            InstrumentPrice.instrument_id == Instrument.id,
            InstrumentPrice.mode == query.mode,
        ]
        if low is not None:
            offered.append(InstrumentPrice.price_fen_per_hour >= low)
        if high is not None:
            offered.append(InstrumentPrice.price_fen_per_hour <= high)
        conditions.append(exists().where(*offered))
    else:
        if low is not None:
            conditions.append(Instrument.price_from_fen >= low)
        if high is not None:
            conditions.append(Instrument.price_from_fen <= high)
    return conditions


def search_instruments(query: InstrumentQuery, locale: str, per_page: int) -> CataloguePage:
    """One page of public instruments matching `query`, in its order."""
    order = _ordering(
        query.sort,
        locale,
        Instrument,
        {"price": Instrument.price_from_fen, "value": Instrument.original_value_fen},
    )

    def stmt_for(walk: bool) -> Select[Any]:
        stmt = (
            select(Instrument)
            .join(Organization, Organization.id == Instrument.provider_id)
            .where(*instrument_conditions(query, indexed=not walk))
            .options(contains_eager(Instrument.provider))
            .order_by(*order)
        )
        if query.mode is not None:
            stmt = stmt.options(selectinload(Instrument.prices))
        return stmt

    matches = (
        select(Instrument.id)
        .join(Organization, Organization.id == Instrument.provider_id)
        .where(*instrument_conditions(query))
    )
    walk_ok = bool(query.terms) and query.sort in _WALKABLE_SORTS
    return _run_page(stmt_for, matches, query.page, per_page, walk_ok, _count_cap(Instrument))


def public_instrument(instrument_id: int, *, for_update: bool = False) -> Instrument | None:
    """The instrument if the public may see it, with prices and provider.

    `for_update` is for a use case that locks the instrument next anyway
    (placing a booking): the same statement locks the instrument's row until
    the transaction ends, and the lock is noted in the session, so the order
    engine reuses this object instead of reading the row a second time
    (`booking.orders.services._lock_instrument`). Only the instrument's row
    is locked: the provider's stays free for bookings of its other
    instruments."""
    stmt = (
        select(Instrument)
        .join(Organization, Organization.id == Instrument.provider_id)
        .where(
            Instrument.id == instrument_id,
            Instrument.sharing_mode == SharingMode.EXTERNAL,
            *_public_provider(),
        )
        .options(contains_eager(Instrument.provider))
    )
    if not for_update:
        return db.session.scalar(stmt.options(selectinload(Instrument.prices)))
    # Prices joined into the one statement; a locked read also overwrites
    # whatever an earlier read of this transaction left in the session.
    instrument = (
        db.session.scalars(
            stmt.options(joinedload(Instrument.prices))
            .with_for_update(of=Instrument)
            .execution_options(populate_existing=True)
        )
        .unique()
        .first()
    )
    if instrument is not None:
        db.session.info.setdefault(LOCKED_IN_TRANSACTION, set()).add(("Instrument", instrument.id))
    return instrument


def upcoming_downtimes(instrument: Instrument, now: datetime, limit: int = 20) -> list[Downtime]:
    """Maintenance and closure windows that have not ended yet, soonest first."""
    return list(
        db.session.scalars(
            select(Downtime)
            .where(Downtime.instrument_id == instrument.id, Downtime.ends_at > now)
            .order_by(Downtime.starts_at)
            .limit(limit)
        )
    )


def linked_service_items(instrument: Instrument) -> list[ServiceItem]:
    """Active service items of the instrument's own provider that run on it."""
    return list(
        db.session.scalars(
            select(ServiceItem)
            .where(
                ServiceItem.instrument_id == instrument.id,
                ServiceItem.provider_id == instrument.provider_id,
                ServiceItem.active.is_(True),
            )
            .order_by(ServiceItem.name_zh, ServiceItem.id)
        )
    )


# --- service items ---------------------------------------------------------------------


def service_conditions(query: ServiceQuery, indexed: bool = True) -> list[ColumnElement[bool]]:
    conditions = [ServiceItem.active.is_(True), *_public_provider()]
    if query.terms:
        conditions.append(
            _keyword(
                ServiceItem.search_text.expression,
                ServiceItem.search_tokens.expression,
                query.terms,
                indexed,
            )
        )
    if query.region is not None:
        conditions.append(Organization.region_id == query.region.id)
    if query.institution is not None:
        conditions.append(ServiceItem.provider_id == query.institution.id)
    if query.category is not None:
        conditions.append(ServiceItem.category == query.category)
    if query.cma:
        conditions.append(ServiceItem.cma_scope.is_(True))
    if query.cnas:
        conditions.append(ServiceItem.cnas_scope.is_(True))
    if query.price_min_fen is not None:
        conditions.append(ServiceItem.unit_price_fen >= query.price_min_fen)
    if query.price_max_fen is not None:
        conditions.append(ServiceItem.unit_price_fen <= query.price_max_fen)
    return conditions


def search_service_items(query: ServiceQuery, locale: str, per_page: int) -> CataloguePage:
    """One page of public service items matching `query`, in its order."""
    order = _ordering(
        query.sort,
        locale,
        ServiceItem,
        {"price": ServiceItem.unit_price_fen, "turnaround": ServiceItem.turnaround_days},
    )

    def stmt_for(walk: bool) -> Select[Any]:
        return (
            select(ServiceItem)
            .join(Organization, Organization.id == ServiceItem.provider_id)
            .where(*service_conditions(query, indexed=not walk))
            .options(contains_eager(ServiceItem.provider))
            .order_by(*order)
        )

    matches = (
        select(ServiceItem.id)
        .join(Organization, Organization.id == ServiceItem.provider_id)
        .where(*service_conditions(query))
    )
    walk_ok = bool(query.terms) and query.sort in _WALKABLE_SORTS
    return _run_page(stmt_for, matches, query.page, per_page, walk_ok, _count_cap(ServiceItem))


def public_service_item(item_id: int) -> ServiceItem | None:
    """The service item if the public may see it (active, verified provider)."""
    return db.session.scalar(
        select(ServiceItem)
        .join(Organization, Organization.id == ServiceItem.provider_id)
        .where(ServiceItem.id == item_id, ServiceItem.active.is_(True), *_public_provider())
        .options(contains_eager(ServiceItem.provider))
    )


def is_public_instrument(instrument_id: int | None) -> bool:
    if instrument_id is None:
        return False
    return public_instrument(instrument_id) is not None


# --- facets ------------------------------------------------------------------------------


def region_choices() -> list[Region]:
    return list(db.session.scalars(select(Region).order_by(Region.id)))


def institution_choices(region: Region | None, locale: str) -> list[tuple[int, str]]:
    """(id, name) of verified providers, in the chosen region when there is
    one. Plain rows, not entities: the list is long and shown on every page."""
    english = locale.startswith("en")
    stmt = select(Organization.id, Organization.name_zh, Organization.name_en).where(
        *_public_provider()
    )
    if region is not None:
        stmt = stmt.where(Organization.region_id == region.id)
    rows = db.session.execute(stmt.order_by(Organization.name_zh, Organization.id))
    return [(org_id, (en if english and en else zh)) for org_id, zh, en in rows]
