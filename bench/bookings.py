"""Booking throughput under gunicorn (sync workers) on PostgreSQL.

One fresh database per run: migrations, the demo alliance (1,705
instruments), then a bench fixture committed on top of it:

- a pool of public instruments (operator-run mode, which needs no training)
  made bookable at once: no approval (bookings confirm immediately), lead
  time 0, 10 years ahead, no per-firm quotas, no downtime, open every day
  08:00-20:00 in 60-minute slots;
- one more such instrument, the contended one;
- one verified enterprise per client, each with one user (cheap PBKDF2 hash
  set directly: the bench measures booking, not scrypt).

Then for each gunicorn worker count: start `gunicorn -w N 'booking:create_app()'`
on a free loopback port (BOOKING_ENV=production, cookies not Secure so they
travel over plain HTTP; CSRF stays ON: each client signs in through /login
with the form's token and reuses that token, which is per session), and
run each case for a fixed time with 1, 8 and 32 concurrent clients, one
process per client, each with its own session:

- free: every request books a distinct free slot (a shared counter deals
  slots round-robin over the pool, so concurrent requests hit different
  instruments and never collide);
- contended: every client posts the same slot of the contended instrument,
  then the next one, ...: exactly one success per slot, the rest 409.

A success is the 302 to the new booking; a 409 is "slot just taken"; an
error is a 5xx or a connection failure; anything else is counted as other.
Where the two cores went is counted too, as CPU ms per request: gunicorn's
workers, PostgreSQL's processes (from /proc, Linux only) and the clients
themselves (they run on the same host). `bench/profile_booking.py` says
where one request's CPU goes inside the app.
After each case, SQL checks that no two active bookings of an instrument
overlap and that the database holds exactly the bookings the clients were
told were made (and, contended, exactly one per attempted slot).

Bounded throughout: fixed time and request caps, loopback only, gunicorn
killed (its process group) in a finally, database dropped at the end.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
USER_AGENT = "booking-bench/1"
PASSWORD = "Bench-2026-pass"  # noqa: S105 -- throwaway bench users in a throwaway database
SLOTS_PER_DAY = 12  # 08:00-20:00, 60-minute slots
OPEN_HOUR = 8
MODE = "entrusted"
ACTIVE_SQL = "('requested', 'confirmed', 'in_use')"
MAX_REQUESTS_PER_CLIENT = 200_000
TARGET_BOOKINGS_PER_S = 600.0
TARGET_P95_MS = 50.0
# Outcome codes a client records per request.
OK, TAKEN, ERROR, OTHER = 0, 1, 2, 3


# --- fixture -----------------------------------------------------------------------


@dataclass
class Fixture:
    url: str  # SQLAlchemy URL (postgresql+psycopg://...)
    pool: list[int]  # instrument ids for the free-slot cases
    contended: int  # the instrument every client fights over
    emails: list[str]
    base_day: date  # first local day used for slots (tomorrow)
    next_free: int = 0  # next slot index of the pool not used yet
    next_contended: int = 0  # next slot index of the contended instrument
    free_ok: int = 0  # successes the clients saw in the free cases so far


def prepare(url: str, clients: int, pool_size: int) -> Fixture:
    """Migrate, seed the demo alliance, add the bench fixture; commit."""
    from flask_migrate import upgrade
    from sqlalchemy import delete, select, text, update
    from werkzeug.security import generate_password_hash

    from booking import create_app
    from booking.accounts.models import (
        Organization,
        OrgKind,
        Region,
        User,
        UserRole,
        VerificationStatus,
    )
    from booking.demo import seed
    from booking.extensions import db, utcnow
    from booking.orders.models import Booking
    from instruments.models import Downtime, Instrument, InstrumentPrice, SharingMode

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        seed(scale=None)
        db.session.commit()
        now = utcnow()
        candidates = list(
            db.session.scalars(
                select(Instrument.id)
                .join(Organization, Organization.id == Instrument.provider_id)
                .join(InstrumentPrice, InstrumentPrice.instrument_id == Instrument.id)
                .where(
                    Organization.kind == OrgKind.PROVIDER,
                    Organization.status == VerificationStatus.VERIFIED,
                    InstrumentPrice.mode == MODE,
                    # Untouched by the demo's own orders: the bench owns their calendars.
                    ~select(Booking.id).where(Booking.instrument_id == Instrument.id).exists(),
                )
                .order_by(Instrument.id)
            )
        )
        if len(candidates) < 2:
            raise SystemExit("the demo data has no public operator-run instruments")
        chosen = candidates[: pool_size + 1]
        db.session.execute(
            update(Instrument)
            .where(Instrument.id.in_(chosen))
            .values(
                status="normal",
                sharing_mode=SharingMode.EXTERNAL,
                approval_required=False,
                max_days_ahead=3650,
                slot_minutes=60,
                min_minutes=60,
                max_minutes=480,
                open_weekdays="1234567",
                open_from=dtime(OPEN_HOUR),
                open_until=dtime(OPEN_HOUR + SLOTS_PER_DAY),
                max_hours_per_week=None,
                max_future_bookings=None,
            )
        )
        db.session.execute(
            update(InstrumentPrice)
            .where(InstrumentPrice.instrument_id.in_(chosen))
            .values(lead_days=0)
        )
        db.session.execute(delete(Downtime).where(Downtime.instrument_id.in_(chosen)))
        region_id = db.session.scalar(select(Region.id).order_by(Region.id))
        cheap = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
        emails = []
        for i in range(clients):
            org = Organization(
                kind=OrgKind.ENTERPRISE,
                name_zh=f"压测企业{i:03d}",
                uscc=f"91BENCH{i:011d}",
                region_id=region_id,
                status=VerificationStatus.VERIFIED,
                verified_at=now,
                created_at=now,
            )
            email = f"bench{i:03d}@bench.test"
            user = User(
                organization=org,
                email=email,
                name=f"压测用户{i:03d}",
                role=UserRole.ADMIN,
                locale="zh_Hans",
                active=True,
                password_hash=cheap,
                password_changed_at=now,
                created_at=now,
            )
            db.session.add_all([org, user])
            emails.append(email)
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
        db.engine.dispose()
    from booking.orders.clock import local

    return Fixture(
        url=url,
        pool=chosen[:-1],
        contended=chosen[-1],
        emails=emails,
        base_day=local(now).date() + timedelta(days=1),
    )


def _slot(base_day: date, index: int) -> tuple[date, int]:
    """The index-th slot of an instrument: (local day, hour)."""
    return base_day + timedelta(days=index // SLOTS_PER_DAY), OPEN_HOUR + index % SLOTS_PER_DAY


# --- gunicorn ----------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    workers: int
    port: int
    proc: subprocess.Popen[bytes]
    log: Path


def start_gunicorn(url: str, workers: int, log_dir: Path) -> Server:
    port = _free_port()
    log = log_dir / f"gunicorn-{workers}.log"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "BOOKING_ENV": "production",
        "SECRET_KEY": secrets.token_hex(32),
        # Plain HTTP on loopback: the production cookies must not be Secure-only.
        "BOOKING_SESSION_COOKIE_SECURE": "false",
        "BOOKING_REMEMBER_COOKIE_SECURE": "false",
        # Up to 32 sign-ins from one address within seconds.
        "BOOKING_LOGIN_RATE_LIMIT": "10000 per minute",
    }
    gunicorn = Path(sys.executable).parent / "gunicorn"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(gunicorn),
                "-w",
                str(workers),
                "-k",
                "sync",
                "-b",
                f"{HOST}:{port}",
                "--timeout",
                "60",
                "booking:create_app()",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed as one
        )
    server = Server(workers, port, proc, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"gunicorn exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            status, _headers, _body = _request(port, "GET", "/login", timeout=5)
            if status == 200:
                # Every worker imports the app lazily on its first request: warm them all.
                for _ in range(workers * 4):
                    _request(port, "GET", "/login", timeout=10)
                return server
        except OSError:
            pass
        time.sleep(0.2)
    stop_gunicorn(server)
    raise SystemExit("gunicorn did not answer within 60 s")


def stop_gunicorn(server: Server) -> None:
    if server.proc.poll() is not None:
        return
    try:
        os.killpg(server.proc.pid, signal.SIGTERM)
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=10)
    except ProcessLookupError:
        pass


# --- HTTP --------------------------------------------------------------------------


def _request(
    port: int,
    method: str,
    path: str,
    body: dict[str, str] | None = None,
    cookie: str = "",
    timeout: float = 30,
) -> tuple[int, http.client.HTTPResponse, bytes]:
    headers = {"User-Agent": USER_AGENT, "Accept-Language": "zh-CN"}
    data = None
    if body is not None:
        data = urlencode(body).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if cookie:
        headers["Cookie"] = cookie
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request(method, path, data, headers)
        response = conn.getresponse()
        payload = response.read()
    finally:
        conn.close()
    return response.status, response, payload


def _session_cookie(response: http.client.HTTPResponse, previous: str) -> str:
    for header in response.msg.get_all("Set-Cookie") or []:
        pair = header.split(";", 1)[0]
        if pair.startswith("session="):
            return pair
    return previous


_TOKEN = re.compile(rb'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def sign_in(port: int, email: str) -> tuple[str, str]:
    """(session cookie, CSRF token) of a fresh session signed in as `email`."""
    status, response, body = _request(port, "GET", "/login")
    match = _TOKEN.search(body)
    if status != 200 or match is None:
        raise SystemExit(f"GET /login answered {status} without a CSRF token")
    token = (match.group(1) or match.group(2)).decode()
    cookie = _session_cookie(response, "")
    form = {"csrf_token": token, "email": email, "password": PASSWORD}
    status, response, _body = _request(port, "POST", "/login", form, cookie)
    if status != 302:
        raise SystemExit(f"sign-in of {email} answered {status}")
    return _session_cookie(response, cookie), token


# --- clients (one process each) -----------------------------------------------------------


@dataclass
class ClientJob:
    port: int
    cookie: str
    token: str
    contended: bool
    pool: list[int]
    contended_id: int
    base_day: date
    first_contended: int
    max_contended: int
    seconds: float


@dataclass
class ClientResult:
    started: float
    ended: float
    latencies: list[float] = field(default_factory=list)
    outcomes: list[int] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    slots_tried: int = 0
    cpu: float = 0.0  # CPU seconds the client process used in the case


def _book(job: ClientJob, instrument_id: int, day: date, hour: int) -> tuple[int, str]:
    form = {
        "csrf_token": job.token,
        "starts_at": f"{day.isoformat()}T{hour:02d}:00",
        "duration": "60",
        "service_mode": MODE,
        "purpose": "bench",
        "sample_notes": "",
        "idempotency_key": uuid.uuid4().hex,
    }
    path = f"/instruments/{instrument_id}/book/confirm"
    try:
        status, response, _ = _request(job.port, "POST", path, form, job.cookie)
    except OSError as error:
        return ERROR, type(error).__name__
    if status == 302 and "/my/orders/booking/" in (response.getheader("Location") or ""):
        return OK, "302"
    if status == 409:
        return TAKEN, "409"
    return (ERROR if status >= 500 else OTHER), str(status)


def _client(job: ClientJob, counter: Any, barrier: Any, out: Any) -> None:
    barrier.wait(timeout=60)
    cpu_started = time.process_time()
    result = ClientResult(started=time.monotonic(), ended=0.0)
    deadline = result.started + job.seconds
    k = job.first_contended
    for _ in range(MAX_REQUESTS_PER_CLIENT):
        if time.monotonic() >= deadline:
            break
        if job.contended:
            if k >= job.first_contended + job.max_contended:
                break
            instrument_id = job.contended_id
            day, hour = _slot(job.base_day, k)
            k += 1
            result.slots_tried += 1
        else:
            with counter.get_lock():
                index = counter.value
                counter.value += 1
            instrument_id = job.pool[index % len(job.pool)]
            day, hour = _slot(job.base_day, index // len(job.pool))
        started = time.perf_counter()
        outcome, status = _book(job, instrument_id, day, hour)
        result.latencies.append((time.perf_counter() - started) * 1000)
        result.outcomes.append(outcome)
        result.statuses[status] = result.statuses.get(status, 0) + 1
    result.ended = time.monotonic()
    result.cpu = time.process_time() - cpu_started
    out.put(result)


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of one process so far; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime, stime


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command name) of every process /proc shows."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            head, tail = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        found.append((int(entry.name), int(tail.split()[1]), head.split("(", 1)[1]))
    return found


def server_cpu(server: Server) -> tuple[float, float]:
    """(gunicorn: master and workers, PostgreSQL: every postgres process) CPU
    seconds so far. Both are 0 where /proc does not exist."""
    if not Path("/proc/self/stat").exists():
        return 0.0, 0.0
    processes = _processes()
    gunicorn = [server.proc.pid] + [pid for pid, ppid, _ in processes if ppid == server.proc.pid]
    postgres = [pid for pid, _, name in processes if name.startswith("postgres")]
    return sum(map(_proc_cpu, gunicorn)), sum(map(_proc_cpu, postgres))


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_case(
    fixture: Fixture,
    server: Server,
    sessions: list[tuple[str, str]],
    clients: int,
    contended: bool,
    seconds: float,
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    counter = ctx.Value("q", fixture.next_free)
    barrier = ctx.Barrier(clients + 1)
    out = ctx.Queue()
    max_contended = 100_000
    jobs = [
        ClientJob(
            port=server.port,
            cookie=sessions[i][0],
            token=sessions[i][1],
            contended=contended,
            pool=fixture.pool,
            contended_id=fixture.contended,
            base_day=fixture.base_day,
            first_contended=fixture.next_contended,
            max_contended=max_contended,
            seconds=seconds,
        )
        for i in range(clients)
    ]
    procs = [ctx.Process(target=_client, args=(job, counter, barrier, out)) for job in jobs]
    for p in procs:
        p.start()
    results: list[ClientResult] = []
    try:
        app_cpu, db_cpu = server_cpu(server)
        barrier.wait(timeout=60)
        for _ in procs:
            results.append(out.get(timeout=seconds + 120))
        app_after, db_after = server_cpu(server)
        # Workers that died were replaced: their CPU is lost, so never below 0.
        app_cpu, db_cpu = max(0.0, app_after - app_cpu), max(0.0, db_after - db_cpu)
    finally:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
                p.join(timeout=5)
    wall = max(r.ended for r in results) - min(r.started for r in results)
    latencies = [v for r in results for v in r.latencies]
    outcomes = [o for r in results for o in r.outcomes]
    statuses: dict[str, int] = {}
    for r in results:
        for k, v in r.statuses.items():
            statuses[k] = statuses.get(k, 0) + v
    first_free, first_contended = fixture.next_free, fixture.next_contended
    slots_tried = max((r.slots_tried for r in results), default=0)
    if contended:
        fixture.next_contended += slots_tried
    else:
        fixture.next_free = int(counter.value)
    n = len(outcomes)
    ok = outcomes.count(OK)
    per_request = 1000 / n if n else 0.0
    check = verify(fixture, contended, first_free, first_contended, slots_tried, ok)
    return {
        "workers": server.workers,
        "clients": clients,
        "case": "contended" if contended else "free",
        "seconds": wall,
        "requests": n,
        "ok": ok,
        "bookings_per_s": ok / wall if wall else 0.0,
        "requests_per_s": n / wall if wall else 0.0,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": _pct(latencies, 0.95),
        "p99": _pct(latencies, 0.99),
        "error_rate": outcomes.count(ERROR) / n if n else 0.0,
        "taken_rate": outcomes.count(TAKEN) / n if n else 0.0,
        "other": outcomes.count(OTHER),
        "statuses": statuses,
        "app_cpu_ms": app_cpu * per_request,
        "db_cpu_ms": db_cpu * per_request,
        "client_cpu_ms": sum(r.cpu for r in results) * per_request,
        **check,
    }


def verify(
    fixture: Fixture,
    contended: bool,
    first_free: int,
    first_contended: int,
    slots_tried: int,
    ok: int,
) -> dict[str, Any]:
    """Overlaps among active bookings (must be 0); bookings written in this
    case versus successes the clients saw; contended: one per tried slot."""
    import psycopg

    from booking.orders.clock import at_local

    plain = fixture.url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain) as conn:
        overlaps = conn.execute(
            f"""SELECT count(*) FROM booking a JOIN booking b
                ON a.instrument_id = b.instrument_id AND a.id < b.id
               AND a.starts_at < b.ends_at AND b.starts_at < a.ends_at
             WHERE a.status IN {ACTIVE_SQL} AND b.status IN {ACTIVE_SQL}"""  # noqa: S608
        ).fetchone()
        if contended:
            start_day, start_hour = _slot(fixture.base_day, first_contended)
            end_day, end_hour = _slot(fixture.base_day, first_contended + slots_tried)
            lo = at_local(start_day, dtime(start_hour))
            hi = at_local(end_day, dtime(end_hour))
            row = conn.execute(
                f"""SELECT count(*), count(DISTINCT starts_at) FROM booking
                    WHERE instrument_id = %s AND status IN {ACTIVE_SQL}
                      AND starts_at >= %s AND starts_at < %s""",  # noqa: S608
                (fixture.contended, lo, hi),
            ).fetchone()
            written, distinct = row or (0, 0)
            consistent = written == ok == distinct == slots_tried
        else:
            row = conn.execute(
                "SELECT count(*) FROM booking WHERE instrument_id = ANY(%s) AND purpose = 'bench'",
                (fixture.pool,),
            ).fetchone()
            # Cumulative over the free cases: compare with what clients saw so far.
            written = (row or (0,))[0]
            fixture.free_ok += ok
            consistent = written == fixture.free_ok
    return {"overlaps": (overlaps or (0,))[0], "db_consistent": consistent, "slots": slots_tried}


# --- the whole part ---------------------------------------------------------------------


def _admin(admin_url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql)


def run(
    admin_url: str,
    workers_list: list[int],
    clients_list: list[int],
    seconds: float,
    pool_size: int = 1000,
    progress: Any = print,
) -> list[dict[str, Any]]:
    name = f"bench_bookings_{os.getpid()}"
    _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"')
    _admin(admin_url, f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    results: list[dict[str, Any]] = []
    try:
        progress("[bookings] preparing database (migrations, demo alliance, fixture) …")
        started = time.perf_counter()
        fixture = prepare(url, max(clients_list), pool_size)
        progress(
            f"[bookings] ready in {time.perf_counter() - started:.0f} s: {len(fixture.pool)} "
            f"instruments in the free pool, {len(fixture.emails)} firms"
        )
        with tempfile.TemporaryDirectory(prefix="bench-gunicorn-") as tmp:
            for workers in workers_list:
                server = start_gunicorn(url, workers, Path(tmp))
                try:
                    sessions = [sign_in(server.port, e) for e in fixture.emails]
                    for contended in (False, True):
                        for clients in clients_list:
                            result = run_case(
                                fixture, server, sessions, clients, contended, seconds
                            )
                            results.append(result)
                            progress("[bookings] " + _line(result))
                finally:
                    stop_gunicorn(server)
                    if server.proc.returncode not in (0, None, -signal.SIGTERM):
                        progress(f"gunicorn log:\n{server.log.read_text()[-2000:]}")
    finally:
        _admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


def _line(r: dict[str, Any]) -> str:
    flag = ""
    if r["overlaps"] or not r["db_consistent"]:
        flag = "  CHECK FAILED"
    return (
        f"{r['workers']:>7}{r['clients']:>8}  {r['case']:<10}{r['bookings_per_s']:>10.0f}"
        f"{r['requests_per_s']:>8.0f}{r['p50']:>8.1f}{r['p95']:>8.1f}{r['p99']:>8.1f}"
        f"{100 * r['error_rate']:>7.2f}{100 * r['taken_rate']:>7.1f}{r['other']:>7}"
        f"{r['overlaps']:>9}{'yes' if r['db_consistent'] else 'NO':>5}"
        f"{r['app_cpu_ms']:>7.1f}{r['db_cpu_ms']:>7.1f}{r['client_cpu_ms']:>7.1f}{flag}"
    )


def table(results: list[dict[str, Any]], seconds: float) -> str:
    cpus = os.cpu_count() or 0
    lines = [
        "",
        f"Booking throughput: gunicorn sync workers, PostgreSQL, {cpus} CPUs (clients on the "
        f"same host), {seconds:.0f} s per case, CSRF on",
        "",
        f"{'workers':>7}{'clients':>8}  {'case':<10}{'booked/s':>10}{'req/s':>8}{'p50 ms':>8}"
        f"{'p95 ms':>8}{'p99 ms':>8}{'err %':>7}{'409 %':>7}{'other':>7}{'overlaps':>9}"
        f"{'db':>5}{'app':>7}{'pg':>7}{'client':>7}",
        "-" * 123,
    ]
    previous = None
    for r in results:
        if previous is not None and r["workers"] != previous:
            lines.append("")
        previous = r["workers"]
        lines.append(_line(r))
    lines.append("")
    lines.append(
        "booked/s: successful bookings per second; err: 5xx or connection failures; 409: slot "
        "just taken; other: any other answer;"
    )
    lines.append(
        "overlaps: pairs of overlapping active bookings in the database after the case; db: "
        "the database holds exactly the bookings the clients were told were made"
    )
    lines.append("(contended: and exactly one per slot tried).")
    lines.append(
        "app / pg / client: CPU ms per request of gunicorn (master and workers), of every "
        "PostgreSQL process, and of the client processes; their sum over the cores is the "
        "ceiling on requests/s."
    )
    free8 = [r for r in results if r["case"] == "free" and r["clients"] == 8]
    if free8:
        best = max(free8, key=lambda r: r["bookings_per_s"])
        met = (
            best["bookings_per_s"] >= TARGET_BOOKINGS_PER_S
            and best["p95"] < TARGET_P95_MS
            and best["error_rate"] == 0
            and all(r["overlaps"] == 0 and r["db_consistent"] for r in results)
        )
        lines.append(
            f"Aim: >= {TARGET_BOOKINGS_PER_S:.0f} bookings/s with 8 clients, p95 < "
            f"{TARGET_P95_MS:.0f} ms, no errors, no overlaps. Best: {best['workers']} workers, "
            f"{best['bookings_per_s']:.0f}/s, p95 {best['p95']:.1f} ms -> "
            + ("met" if met else "NOT met")
        )
    return "\n".join(lines)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="booking throughput under gunicorn")
    parser.add_argument(
        "--admin-url",
        default=os.environ.get(
            "DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--workers", default="2,4,5")
    parser.add_argument("--clients", default="1,8,32")
    parser.add_argument("--seconds", type=float, default=10.0)
    options = parser.parse_args()
    seconds = options.seconds
    results = run(
        options.admin_url,
        [int(w) for w in options.workers.split(",")],
        [int(c) for c in options.clients.split(",")],
        seconds,
    )
    print(table(results, seconds))
    print(json.dumps(results, default=str), file=sys.stderr)


if __name__ == "__main__":
    main()
