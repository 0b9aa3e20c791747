"""Cost of one booking request, inside one process: CPU, SQL, profile.

The throughput bench (bench/bookings.py) says how many bookings per second
gunicorn serves; this says where one request's time goes, with less noise
from a shared machine: Python CPU time is per process, and SQL statements
are counted, not timed.

    bench/profile_booking.py --prepare            # fresh database + bench fixture
    bench/profile_booking.py [--case free|taken] [--requests 300] [--top 35]

The app is built as gunicorn builds it (BOOKING_ENV=production, CSRF on),
served through the Flask test client, signed in through /login. Each
request posts the confirm step of a booking (POST
/instruments/<id>/book/confirm), as a bench client does:

- free: a distinct free slot every time (302 to the new booking);
- taken: a slot this firm already holds, with a fresh idempotency key: the
  lost-race answer (409 with the fresh calendar).

Printed: CPU ms and wall ms per request (median and mean over the measured
requests), SQL statements per request with the statements of one request,
then a cProfile of further requests (cumulative and own time).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import secrets
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import bookings  # noqa: E402 - after the path set-up above

# Plain HTTP as in the bench: the test client would otherwise follow
# PREFERRED_URL_SCHEME (https in production), and CSRF would demand a Referer.
BASE_URL = "http://localhost"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/t_perf_prof"


def prepare(url: str) -> None:
    admin = url.replace("postgresql+psycopg://", "postgresql://", 1).rsplit("/", 1)[0]
    name = url.rsplit("/", 1)[1]
    bookings._admin(admin + "/postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    bookings._admin(admin + "/postgres", f'CREATE DATABASE "{name}"')
    bookings.prepare(url, clients=1, pool_size=200)


def _app(url: str) -> Any:
    os.environ.update(
        {
            "BOOKING_ENV": "production",
            "DATABASE_URL": url,
            "SECRET_KEY": secrets.token_hex(32),
            "BOOKING_SESSION_COOKIE_SECURE": "false",
            "BOOKING_REMEMBER_COOKIE_SECURE": "false",
        }
    )
    from booking import create_app

    return create_app()


def _fixture(app: Any) -> tuple[list[int], str, date, int]:
    """(pool, email, first day, slots already booked) of a prepared database."""
    from sqlalchemy import func, select

    from booking.extensions import db
    from booking.orders.models import Booking
    from instruments.models import Instrument

    with app.app_context():
        # The bench fixture is the only place instruments are 10 years ahead.
        ids = list(
            db.session.scalars(
                select(Instrument.id)
                .where(Instrument.max_days_ahead == 3650)
                .order_by(Instrument.id)
            )
        )
        used = db.session.scalar(select(func.count()).where(Booking.purpose == "bench")) or 0
        db.session.remove()
    if len(ids) < 2:
        raise SystemExit("no bench fixture in this database: run with --prepare first")
    from booking.extensions import utcnow
    from booking.orders.clock import local

    return ids[:-1], "bench000@bench.test", local(utcnow()).date() + timedelta(days=1), int(used)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("PROFILE_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--prepare", action="store_true")
    parser.add_argument("--case", choices=("free", "taken"), default="free")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=35)
    parser.add_argument("--dump", help="also write the raw profile here (for pstats)")
    options = parser.parse_args()
    if options.prepare:
        prepare(options.url)
        print("prepared", options.url)
        return

    from sqlalchemy import event

    from booking.extensions import db

    app = _app(options.url)
    pool, email, base_day, used = _fixture(app)
    client = app.test_client()
    # Session protection ties the session to the user agent: the same one throughout.
    client.environ_base.update(
        {"HTTP_USER_AGENT": bookings.USER_AGENT, "HTTP_ACCEPT_LANGUAGE": "zh-CN"}
    )

    status, body = _get(client, "/login")
    match = bookings._TOKEN.search(body)
    if status != 200 or match is None:
        raise SystemExit("no CSRF token on /login")
    token = (match.group(1) or match.group(2)).decode()
    response = client.post(
        "/login",
        base_url=BASE_URL,
        data={"csrf_token": token, "email": email, "password": bookings.PASSWORD},
    )
    if response.status_code != 302:
        raise SystemExit(f"sign-in answered {response.status_code}")
    # Like a bench client, every booking request sends the cookie of the
    # sign-in: the flash each answer adds is never carried into the next one.
    cookie = client.get_cookie("session", domain="localhost")
    if cookie is None:
        raise SystemExit("no session cookie after sign-in")
    client = app.test_client(use_cookies=False)
    client.environ_base.update(
        {
            "HTTP_USER_AGENT": bookings.USER_AGENT,
            "HTTP_ACCEPT_LANGUAGE": "zh-CN",
            "HTTP_COOKIE": f"session={cookie.value}",
        }
    )

    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    width = int(os.environ.get("PROFILE_SQL_WIDTH", "160"))

    @event.listens_for(engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, sql: str, *_args: Any) -> None:
        statements.append(" ".join(sql.split())[:width])

    # Round trips that are not statements: a checkout pings first when
    # pool_pre_ping is on; BEGIN and COMMIT/ROLLBACK go to the server too.
    others: dict[str, int] = {"checkout": 0, "begin": 0, "commit": 0, "rollback": 0}

    def _counter(name: str) -> Any:
        def listener(*_args: Any) -> None:
            others[name] += 1

        return listener

    event.listen(engine, "checkout", _counter("checkout"))
    for name in ("begin", "commit", "rollback"):
        event.listen(engine, name, _counter(name))

    counter = iter(range(used, used + 10_000_000))
    taken_slot = (pool[0], base_day + timedelta(days=3000), bookings.OPEN_HOUR)
    if options.case == "taken":
        # The firm books the slot once; every measured request then loses it.
        code = _book(client, token, *taken_slot)
        if code not in (302, 409):
            raise SystemExit(f"setting up the taken slot answered {code}")

    def one() -> int:
        if options.case == "taken":
            return _book(client, token, *taken_slot)
        index = next(counter)
        day, hour = bookings._slot(base_day, index // len(pool))
        return _book(client, token, pool[index % len(pool)], day, hour)

    expected = 302 if options.case == "free" else 409
    for _ in range(options.warmup):
        _check(one(), expected)
    cpu: list[float] = []
    wall: list[float] = []
    counts: list[int] = []
    sample: list[str] = []
    for name in others:
        others[name] = 0
    for i in range(options.requests):
        statements.clear()
        c0, w0 = time.process_time(), time.perf_counter()
        _check(one(), expected)
        cpu.append((time.process_time() - c0) * 1000)
        wall.append((time.perf_counter() - w0) * 1000)
        counts.append(len(statements))
        if i == 0:
            sample = list(statements)
    print(f"case {options.case}: {options.requests} requests after {options.warmup} warm-up")
    print(
        f"CPU ms/request: median {statistics.median(cpu):.2f}, mean {statistics.mean(cpu):.2f}; "
        f"wall ms: median {statistics.median(wall):.2f}, mean {statistics.mean(wall):.2f}"
    )
    quartiles = " / ".join(f"{q:.2f}" for q in statistics.quantiles(cpu, n=4))
    print(f"CPU ms/request quartiles: {quartiles}")
    print(
        f"SQL statements/request: {statistics.mean(counts):.1f} "
        f"(min {min(counts)}, max {max(counts)}); per request also: "
        + ", ".join(f"{k} {v / options.requests:.1f}" for k, v in others.items())
        + f" (pool_pre_ping {engine.pool._pre_ping})"
    )
    for sql in sample:
        print("   ", sql)

    # CPU time, not wall time: waiting for PostgreSQL is not what this looks for.
    profiler = cProfile.Profile(time.process_time)
    n = max(100, options.requests // 2)
    profiler.enable()
    for _ in range(n):
        one()
    profiler.disable()
    if options.dump:
        profiler.dump_stats(options.dump)
    stats = pstats.Stats(profiler)
    print(f"\ncProfile over {n} requests: {stats.total_calls / n:.0f} function calls/request")  # type: ignore[attr-defined]
    stats.sort_stats("cumulative").print_stats(options.top)
    stats.sort_stats("tottime").print_stats(options.top)


def _get(client: Any, path: str) -> tuple[int, bytes]:
    response = client.get(path, base_url=BASE_URL)
    return response.status_code, response.get_data()


def _book(client: Any, token: str, instrument_id: int, day: date, hour: int) -> int:
    response = client.post(
        f"/instruments/{instrument_id}/book/confirm",
        base_url=BASE_URL,
        data={
            "csrf_token": token,
            "starts_at": f"{day.isoformat()}T{hour:02d}:00",
            "duration": "60",
            "service_mode": bookings.MODE,
            "purpose": "bench",
            "sample_notes": "",
            "idempotency_key": uuid.uuid4().hex,
        },
    )
    return int(response.status_code)


def _check(status: int, expected: int) -> None:
    if status != expected:
        raise SystemExit(f"expected HTTP {expected}, got {status}")


if __name__ == "__main__":
    main()
