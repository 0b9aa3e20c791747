"""Week-availability latency with a realistically busy calendar.

Given a database that already holds the demo alliance (any scale, SQLite or
PostgreSQL), a child process:

1. picks a sample of public, bookable instruments (fixed random seed) and
   gives each a busy calendar on its own opening hours and slot size: the
   current week and the next `weeks` weeks 60-80 % booked (confirmed and
   requested bookings, a few cancelled ones, by various firms), the 8 weeks
   before that booked as history (completed, closed, no-show), and one
   half-day maintenance window per instrument in the coming weeks;
2. plays a web worker: for every instrument-week it loads the instrument
   as the booking page does (`queries.public_instrument`, prices included),
   then times `week_availability(instrument, day, mode, now)` alone (the
   service call, server side); a fresh session per instrument-week, so the
   identity map helps no more than it does across requests;
3. times the whole booking page too (GET /instruments/<id>/book?week=...,
   signed in as a firm, through the Flask test client: routing, the
   calendar, the form and the template) for a subset.

Usage (child): bench/availability.py URL [--sample 150] [--weeks 4]
prints one line BENCH_RESULT {json}.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULT = "BENCH_RESULT "
TARGET_P95_MS = 25.0
PASSWORD = "Bench-2026-pass"  # noqa: S105 -- throwaway bench user in a throwaway database
BOOK_SHARE = 0.55  # chance a free slot starts a booking; lengths 1-3 slots: ~70 % occupied
HISTORY_WEEKS = 8


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def make_busy(sample: int, weeks: int, now: datetime, seed: int = 7) -> dict[str, Any]:
    """Busy calendars for `sample` instruments; flushed and committed."""
    from sqlalchemy import Table, insert, select

    from booking.accounts.models import Organization, OrgKind, User, VerificationStatus
    from booking.extensions import db
    from booking.orders.availability import slot_times
    from booking.orders.clock import at_local, local, week_start
    from booking.orders.models import Booking
    from instruments import queries
    from instruments.models import Downtime, InstrumentStatus

    rng = random.Random(seed)
    pairs = [
        (org_id, user_id)
        for org_id, user_id in db.session.execute(
            select(Organization.id, User.id)
            .join(User, User.organization_id == Organization.id)
            .where(Organization.kind == OrgKind.ENTERPRISE)
        )
    ]
    firms = [
        org_id
        for (org_id,) in db.session.execute(
            select(Organization.id).where(
                Organization.kind == OrgKind.ENTERPRISE,
                Organization.status == VerificationStatus.VERIFIED,
            )
        )
    ]
    if not pairs:
        raise SystemExit("no enterprise user in the database")
    fallback_user = pairs[0][1]
    users = dict(pairs)

    # Candidates: public, bookable statuses, at least one price.
    from booking.accounts.models import Organization as Org
    from instruments.models import Instrument, InstrumentPrice, SharingMode

    bookable = [s.value for s in InstrumentStatus if s.bookable]
    ids = list(
        db.session.scalars(
            select(Instrument.id)
            .join(Org, Org.id == Instrument.provider_id)
            .where(
                Org.kind == OrgKind.PROVIDER,
                Org.status == VerificationStatus.VERIFIED,
                Instrument.sharing_mode == SharingMode.EXTERNAL,
                Instrument.status.in_(bookable),
                select(InstrumentPrice.instrument_id)
                .where(InstrumentPrice.instrument_id == Instrument.id)
                .exists(),
                # Calendars the demo's own orders left alone: this bench fills them.
                ~select(Booking.id).where(Booking.instrument_id == Instrument.id).exists(),
                ~select(Downtime.id).where(Downtime.instrument_id == Instrument.id).exists(),
            )
            .order_by(Instrument.id)
        )
    )
    chosen = sorted(rng.sample(ids, min(sample, len(ids))))
    this_monday = week_start(local(now).date())
    bookings: list[dict[str, Any]] = []
    downtimes: list[dict[str, Any]] = []
    slots_open = slots_taken = 0
    for instrument_id in chosen:
        instrument = queries.public_instrument(instrument_id)
        assert instrument is not None
        times = slot_times(instrument)
        step = timedelta(minutes=instrument.slot_minutes)
        min_slots = max(1, -(-instrument.min_minutes // instrument.slot_minutes))
        max_slots = max(min_slots, instrument.max_minutes // instrument.slot_minutes)
        mode = instrument.prices[0].mode if instrument.prices else "entrusted"
        price = instrument.prices[0].price_fen_per_hour if instrument.prices else 0
        # A half-day maintenance window in one of the coming weeks.
        dt_day = this_monday + timedelta(days=7 * rng.randrange(weeks) + rng.randrange(5))
        dt_start = at_local(dt_day, instrument.open_from)
        dt_end = dt_start + timedelta(hours=4)
        downtimes.append(
            {
                "instrument_id": instrument_id,
                "kind": "maintenance",
                "starts_at": dt_start,
                "ends_at": dt_end,
                "reason": "bench: 例行维护",
                "created_at": now,
            }
        )
        for w in range(-HISTORY_WEEKS, weeks):
            monday = this_monday + timedelta(days=7 * w)
            for offset in range(7):
                day = monday + timedelta(days=offset)
                if str(day.isoweekday()) not in instrument.open_weekdays:
                    continue
                i = 0
                while i < len(times):
                    s = at_local(day, times[i])
                    if s < dt_end and dt_start < s + step:
                        i += 1
                        continue
                    if w >= 0:
                        slots_open += 1
                    if rng.random() >= BOOK_SHARE:
                        i += 1
                        continue
                    length = rng.randint(min_slots, max(min_slots, min(max_slots, 3)))
                    length = min(length, len(times) - i)
                    if length < min_slots:
                        break
                    e = s + step * length
                    if s < dt_end and dt_start < e:  # stop short of the downtime
                        i += 1
                        continue
                    if w < 0:
                        status = rng.choices(
                            ["completed", "closed", "no_show", "cancelled"], [3, 5, 1, 1]
                        )[0]
                    else:
                        status = rng.choices(["confirmed", "requested", "cancelled"], [14, 5, 1])[0]
                        if status != "cancelled":
                            slots_taken += length
                            slots_open += length - 1
                    firm = rng.choice(firms) if firms else pairs[0][0]
                    bookings.append(
                        {
                            "instrument_id": instrument_id,
                            "enterprise_id": firm,
                            "user_id": users.get(firm, fallback_user),
                            "service_mode": mode,
                            "starts_at": s,
                            "ends_at": e,
                            "status": status,
                            "purpose": "bench",
                            "sample_notes": "",
                            "price_fen_per_hour": price,
                            "quote_fen": price * length * instrument.slot_minutes // 60,
                            "policy": {"bench": True},
                            "created_at": now,
                            "updated_at": now,
                        }
                    )
                    i += length
        db.session.expunge_all()
    booking_table: Table = Booking.__table__  # type: ignore[assignment]
    downtime_table: Table = Downtime.__table__  # type: ignore[assignment]
    for start in range(0, len(bookings), 5000):
        db.session.execute(insert(booking_table), bookings[start : start + 5000])
    db.session.execute(insert(downtime_table), downtimes)
    db.session.commit()
    return {
        "instruments": chosen,
        "bookings": len(bookings),
        "occupancy": slots_taken / slots_open if slots_open else 0.0,
        "monday": this_monday.isoformat(),
    }


def child_measure(url: str, sample: int, weeks: int, page_sample: int) -> None:
    from sqlalchemy import select, text
    from werkzeug.security import generate_password_hash

    from booking import create_app
    from booking.accounts.models import Organization, OrgKind, User, VerificationStatus
    from booking.extensions import db, utcnow
    from booking.orders.availability import week_availability
    from booking.orders.views import _default_mode
    from instruments import queries

    app = create_app(
        "development",
        SQLALCHEMY_DATABASE_URI=url,
        DEBUG=False,
        WTF_CSRF_ENABLED=False,
        LOGIN_RATE_LIMIT="1000 per minute",
    )
    now = utcnow()
    with app.app_context():
        started = time.perf_counter()
        busy = make_busy(sample, weeks, now)
        # A firm user with a cheap hash for the page timings.
        org = db.session.scalar(
            select(Organization)
            .where(
                Organization.kind == OrgKind.ENTERPRISE,
                Organization.status == VerificationStatus.VERIFIED,
            )
            .order_by(Organization.id)
        )
        assert org is not None
        user = User(
            organization=org,
            email="availability-bench@bench.test",
            name="可用性压测",
            role="admin",
            locale="zh_Hans",
            active=True,
            password_hash=generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000"),
            password_changed_at=now,
            created_at=now,
        )
        db.session.add(user)
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE booking"))
                conn.execute(text("ANALYZE downtime"))
        setup_seconds = time.perf_counter() - started
        monday = date.fromisoformat(busy["monday"])
        weeks_of = [monday + timedelta(days=7 * w) for w in range(weeks)]
        samples = [(i, d) for i in busy["instruments"] for d in weeks_of]
        random.Random(3).shuffle(samples)
        db.session.remove()

        def one(instrument_id: int, day: date) -> tuple[float, int]:
            instrument = queries.public_instrument(instrument_id)
            assert instrument is not None
            mode = _default_mode(instrument)
            t0 = time.perf_counter()
            calendar = week_availability(instrument, day, mode, now)
            elapsed = (time.perf_counter() - t0) * 1000
            db.session.remove()
            return elapsed, calendar.free_count

        for instrument_id, day in samples[:20]:  # warm-up
            one(instrument_id, day)
        timings: list[float] = []
        taken = 0
        for instrument_id, day in samples:
            elapsed, _free = one(instrument_id, day)
            timings.append(elapsed)
        for instrument_id, day in samples[:50]:
            instrument = queries.public_instrument(instrument_id)
            assert instrument is not None
            cal = week_availability(instrument, day, _default_mode(instrument), now)
            taken += sum(1 for d in cal.days for s in d.slots.values() if s.state == "taken")
            db.session.remove()

    client = app.test_client()
    response = client.post(
        "/login", data={"email": "availability-bench@bench.test", "password": PASSWORD}
    )
    if response.status_code != 302:
        raise SystemExit(f"sign-in for the page timings answered {response.status_code}")
    pages: list[float] = []
    for instrument_id, day in samples[:5]:  # warm-up: templates
        client.get(f"/instruments/{instrument_id}/book?week={day.isoformat()}")
    for instrument_id, day in samples[:page_sample]:
        t0 = time.perf_counter()
        response = client.get(f"/instruments/{instrument_id}/book?week={day.isoformat()}")
        pages.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"booking page answered {response.status_code}")
    with app.app_context():
        count = db.session.scalar(text("SELECT count(*) FROM instrument"))
        total_bookings = db.session.scalar(text("SELECT count(*) FROM booking"))
        db.engine.dispose()
    print(
        RESULT
        + json.dumps(
            {
                "backend": "postgresql" if url.startswith("postgresql") else "sqlite",
                "instrument_count": count,
                "sampled": len(busy["instruments"]),
                "instrument_weeks": len(timings),
                "bookings": total_bookings,
                "occupancy": busy["occupancy"],
                "taken_per_week": taken / 50,
                "setup_seconds": setup_seconds,
                "median": statistics.median(timings),
                "p95": _pct(timings, 0.95),
                "max": max(timings),
                "page_runs": len(pages),
                "page_median": statistics.median(pages),
                "page_p95": _pct(pages, 0.95),
            }
        ),
        flush=True,
    )


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "",
        "Week availability with a busy calendar: week_availability() server side (instrument "
        "loaded as the page does), and the whole booking page via the test client",
        "",
        f"{'database':<11}{'instruments':>12}{'inst-weeks':>11}{'bookings':>10}{'busy':>6}"
        f"{'median ms':>11}{'p95 ms':>8}{'max ms':>8}{'page med':>10}{'page p95':>10}",
        "-" * 97,
    ]
    for r in results:
        flag = "" if r["p95"] < TARGET_P95_MS else "  > target"
        lines.append(
            f"{r['backend']:<11}{r['instrument_count']:>12,}{r['instrument_weeks']:>11,}"
            f"{r['bookings']:>10,}{100 * r['occupancy']:>5.0f}%{r['median']:>11.2f}"
            f"{r['p95']:>8.2f}{r['max']:>8.1f}{r['page_median']:>10.1f}{r['page_p95']:>10.1f}"
            f"{flag}"
        )
    lines.append("")
    lines.append(
        "busy: share of the measured weeks' open slots held by active bookings (downtime "
        "excluded); page: GET /instruments/<id>/book?week=..., signed in as a firm."
    )
    lines.append(f"Target: one instrument's week in < {TARGET_P95_MS:.0f} ms at p95.")
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="week availability latency (child)")
    parser.add_argument("url")
    parser.add_argument("--sample", type=int, default=150)
    parser.add_argument("--weeks", type=int, default=4)
    parser.add_argument("--pages", type=int, default=100)
    options = parser.parse_args()
    child_measure(options.url, options.sample, options.weeks, options.pages)


if __name__ == "__main__":
    main()
