"""What paying with a voucher costs per order placement.

On a fresh database per backend (SQLite in a temporary file; PostgreSQL in a
database created and dropped here, when it answers): migrations, then one
provider with two instruments that confirm at once, one verified firm, a
programme recognising the provider and an approved grant issued through the
ledger. Then, each in its own committed transaction:

- quote: `vouchers.spending.options` — the voucher rules and the share for
  one draft order (what the quote page adds);
- voucher part: `vouchers.spending.place` alone, timed inside a placement —
  locking the grant, re-checking the rules, the split-order look-up, the
  use row, the hold and (instant confirmation) the lock entry;
- placement with and without a voucher: `place_booking` + commit, on distinct
  free slots, so the difference is what the voucher adds end to end.

Usage: bench/voucher_share.py [--runs 200] [--backends sqlite,postgresql]
(also `bench/run.py --only vouchers_share`).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)  # Tuesday 08:00 in Shanghai
HOURLY_FEN = 100_000  # ¥1,000 an hour: a 50 % share of ¥500 per 1-hour booking
FIRST_DAY, LAST_DAY = 8, 29  # inside the entrusted lead time and 30 days ahead
HOURS = range(8, 20)
WARM_UP = 5


def _world() -> dict[str, Any]:
    from booking.accounts import uscc
    from booking.accounts.models import Organization, OrgKind, Region, User
    from booking.extensions import db
    from instruments import services as catalogue
    from vouchers import ledger
    from vouchers.models import Grant, GrantStatus, Programme, RecognisedProvider

    region = Region(code="bench", name_zh="基准区", name_en="Bench", division_code="310114")
    db.session.add(region)
    db.session.flush()

    def org(kind: str, n: int) -> Organization:
        made = Organization(
            kind=kind,
            name_zh=f"基准{kind}{n}",
            uscc=uscc.make(region.division_code, 900000 + n),
            region=region,
            status="verified",
            provider_type="university" if kind == OrgKind.PROVIDER else None,
            enterprise_category="tech_sme" if kind == OrgKind.ENTERPRISE else None,
        )
        db.session.add(made)
        db.session.flush()
        return made

    provider, firm_org, authority = (
        org(OrgKind.PROVIDER, 1),
        org(OrgKind.ENTERPRISE, 2),
        org(OrgKind.AUTHORITY, 3),
    )
    user = User(organization=firm_org, email="bench-firm@example.cn", name="基准用户")
    user.password_hash = "!"  # noqa: S105 -- no usable hash: the bench user never signs in
    db.session.add(user)
    instruments = [
        catalogue.create_instrument(
            provider,
            {
                "internal_no": f"BENCH{n}",
                "name_zh": f"基准仪器{n}",
                "classification_code": "010501",
                "original_value_fen": 85_000_000,
                "open_weekdays": "1234567",
                "open_from": dtime(8, 0),
                "open_until": dtime(20, 0),
                "slot_minutes": 60,
                "min_minutes": 60,
                "max_minutes": 240,
                "max_days_ahead": 30,
                "approval_required": False,
            },
            {"entrusted": HOURLY_FEN},
            actor=None,
        )
        for n in range(2)
    ]
    programme = Programme(
        authority_id=authority.id,
        code="BENCH",
        name_zh="基准创新券",
        fiscal_year=2026,
        budget_fen=1_000_000_000,
        subsidy_percent=50,
        enterprise_cap_fen=100_000_000,
        order_cap_fen=2_000_000,
        eligible_kinds=["instrument_time", "testing_service"],
        applications_open_on=date(2026, 1, 1),
        applications_close_on=date(2026, 12, 31),
        valid_until=date(2026, 12, 31),
        claim_deadline=date(2027, 3, 31),
    )
    programme.recognised.append(RecognisedProvider(provider_id=provider.id))
    db.session.add(programme)
    db.session.flush()
    grant = Grant(
        programme_id=programme.id,
        enterprise_id=firm_org.id,
        requested_fen=100_000_000,
        status=GrantStatus.SUBMITTED,
    )
    db.session.add(grant)
    db.session.flush()
    ledger.draw_budget(programme.id, grant.requested_fen)
    ledger.issue(grant.id, grant.requested_fen, NOW)
    grant.status = GrantStatus.APPROVED
    db.session.commit()
    return {
        "user_id": user.id,
        "provider_id": provider.id,
        "instrument_ids": [i.id for i in instruments],
        "payment": f"grant:{grant.id}",
    }


def _slots(runs: int) -> list[tuple[datetime, datetime]]:
    from booking.orders.clock import at_local, local

    today = local(NOW).date()
    found = [
        (start, start + timedelta(hours=1))
        for day in range(FIRST_DAY, LAST_DAY + 1)
        for hour in HOURS
        for start in [at_local(today + timedelta(days=day), dtime(hour))]
    ]
    if runs + WARM_UP > len(found):
        raise SystemExit(f"at most {len(found) - WARM_UP} runs (free slots per instrument)")
    return found[: runs + WARM_UP]


def _stats(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {
        "p50": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))],
    }


def measure(url: str, runs: int) -> dict[str, Any]:
    """Build the world on `url` (schema by the migrations) and time the four cases."""
    from flask_migrate import upgrade

    from booking import create_app
    from booking.accounts.models import Organization, User
    from booking.extensions import db
    from booking.orders import services
    from booking.orders.payment import INSTRUMENT_TIME, OrderDraft
    from vouchers import ledger, spending

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url, DEBUG=False)
    results: dict[str, Any] = {}
    with app.app_context():
        upgrade()
        world = _world()
        user = db.session.get(User, world["user_id"])
        provider = db.session.get(Organization, world["provider_id"])
        assert user is not None and provider is not None

        quote_ms: list[float] = []
        draft = OrderDraft(
            user.organization, provider, INSTRUMENT_TIME, "instrument:1", 2 * HOURLY_FEN
        )
        for n in range(runs + WARM_UP):
            started = time.perf_counter()
            (option,) = spending.options(draft, user, NOW)
            if n >= WARM_UP:
                quote_ms.append((time.perf_counter() - started) * 1000)
            db.session.rollback()
        assert option.usable, option.refusal
        results["quote (options)"] = _stats(quote_ms)

        voucher_ms: list[float] = []
        original: Callable[..., Any] = spending.place

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                voucher_ms.append((time.perf_counter() - started) * 1000)

        spending.place = timed  # on_order_changed looks it up per call
        try:
            for label, instrument_id, payment in (
                ("place, own payment", world["instrument_ids"][0], ""),
                ("place, voucher", world["instrument_ids"][1], world["payment"]),
            ):
                totals: list[float] = []
                voucher_ms.clear()
                for n, (start, end) in enumerate(_slots(runs)):
                    request = services.BookingRequest(
                        instrument_id=instrument_id,
                        service_mode="entrusted",
                        starts_at=start,
                        ends_at=end,
                        payment=payment,
                    )
                    started = time.perf_counter()
                    services.place_booking(user, request, NOW)
                    db.session.commit()
                    if n >= WARM_UP:
                        totals.append((time.perf_counter() - started) * 1000)
                results[label] = _stats(totals)
                if payment:
                    results["voucher part (spending.place)"] = _stats(voucher_ms[WARM_UP:])
        finally:
            spending.place = original
        assert ledger.mismatches() == []
        db.session.remove()
        db.engine.dispose()
    return results


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _postgres_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except Exception:  # any failure means "not reachable": skip PostgreSQL
        return False


def run(
    backends: list[str], runs: int, progress: Callable[[str], None] = print
) -> list[dict[str, Any]]:
    results = []
    for backend in backends:
        if backend == "postgresql" and not _postgres_answers():
            progress("PostgreSQL does not answer: voucher-share bench on SQLite only.")
            continue
        progress(f"[{backend}] voucher share, {runs} placements per case …")
        if backend == "sqlite":
            with tempfile.TemporaryDirectory(prefix="bench-voucher-") as tmp:
                measured = measure(f"sqlite:///{Path(tmp) / 'voucher.db'}", runs)
        else:
            name = f"bench_voucher_{os.getpid()}"
            _admin(f'DROP DATABASE IF EXISTS "{name}"')
            _admin(f'CREATE DATABASE "{name}"')
            base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
            try:
                measured = measure(f"{base}/{name}", runs)
            finally:
                _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        results.append({"backend": backend, "runs": runs, "cases": measured})
    return results


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "",
        "Voucher share per order placement (ms, one committed transaction each)",
        "",
        f"{'database':<11}{'case':<34}{'p50 ms':>9}{'p95 ms':>9}",
        "-" * 63,
    ]
    for r in results:
        cases = r["cases"]
        for label, s in cases.items():
            lines.append(f"{r['backend']:<11}{label:<34}{s['p50']:>9.2f}{s['p95']:>9.2f}")
        extra = cases["place, voucher"]["p50"] - cases["place, own payment"]["p50"]
        lines.append(f"{r['backend']:<11}{'voucher adds (p50 difference)':<34}{extra:>9.2f}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--backends", default="sqlite,postgresql")
    options = parser.parse_args()
    results = run(options.backends.split(","), options.runs)
    print(table(results), flush=True)


if __name__ == "__main__":
    main()
