"""`make bench`: catalogue-search latency and web-worker memory.

For each database (SQLite in a temporary file; PostgreSQL in a fresh database
created and dropped here, when postgresql://postgres@127.0.0.1:5432 answers)
and each catalogue size (1,705 and 100,000 instruments):

1. a child process builds the schema with the migrations and loads the
   catalogue (`booking.demo.seed` when it exists, else `bench/generate.py`);
2. another child process plays a web worker: it builds the app, serves every
   query shape through the Flask test client (warm-up, then N timed runs)
   and reports the time spent inside the app per request (before_request to
   after_request, i.e. routing excluded, rendering included) and its own
   peak RSS, which is what one worker needs after serving these pages.

Then (bench/availability.py), on the same databases before they are
dropped: week-availability latency with a realistically busy calendar; and
(bench/bookings.py) booking throughput under gunicorn on a fresh PostgreSQL
database: 1, 8 and 32 clients, free slots and one contended slot; and
(bench/voucher_share.py) what paying with a voucher adds per placement; and
(bench/settlement.py; loading 1,000,000 claims takes about two minutes)
settle() over 100,000 and 1,000,000 approved claims.

Usage: bench/run.py [--only catalogue|bookings|availability|vouchers_share|settlement]
                    [--scales 1705,100000] [--backends sqlite,postgresql]
                    [--runs 50] [--keep] [--workers 2,4,5] [--clients 1,8,32]
                    [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ADMIN_URL = os.environ.get("DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RESULT = "BENCH_RESULT "
TARGET_P95_MS = 50.0
TARGET_RSS_MB = 150.0

# (label, query string); {region} is filled with a region code from the data.
SHAPES = (
    ("2-char 色谱", "q=" + quote("色谱")),
    ("4-char 气相色谱", "q=" + quote("气相色谱")),
    ("filter only (cat+region+mode)", "category=01&region={region}&mode=entrusted"),
    ("zero hits 宇宙飞船", "q=" + quote("宇宙飞船")),
    ("browse all, newest", ""),
    ("色谱, sorted by price", "q=" + quote("色谱") + "&sort=price"),
)


# --- child: load the catalogue ------------------------------------------------------


def child_seed(url: str, scale: int) -> None:
    from flask_migrate import upgrade
    from sqlalchemy import text

    from booking import create_app
    from booking.extensions import db

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        upgrade()
        try:
            from booking import demo as loader  # the real demo data, when it exists

            source = "booking.demo"
        except ImportError:
            from bench import generate as loader  # type: ignore[no-redef]

            source = "bench/generate.py"
        started = time.perf_counter()
        summary = loader.seed(scale=None if scale == 1705 else scale, progress=_quiet)
        db.session.commit()
        seconds = time.perf_counter() - started
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does shortly after a bulk load: fresh statistics
            # and a visibility map, so the planner sees the real table.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("VACUUM ANALYZE"))
        count = db.session.scalar(text("SELECT count(*) FROM instrument"))
        db.engine.dispose()
    print(
        RESULT
        + json.dumps(
            {
                "source": source,
                "seconds": seconds,
                "instruments": count,
                "summary": summary.describe(),
            }
        ),
        flush=True,
    )


def _quiet(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- child: a web worker serving the queries ----------------------------------------


def child_measure(url: str, runs: int) -> None:
    import resource

    from flask import g
    from sqlalchemy import select

    from booking import create_app
    from booking.accounts.models import Region
    from booking.extensions import db

    app = create_app("development", SQLALCHEMY_DATABASE_URI=url, DEBUG=False)
    timings: list[float] = []

    @app.before_request
    def _start() -> None:
        g.bench_started = time.perf_counter()

    @app.after_request
    def _stop(response: Any) -> Any:
        timings.append((time.perf_counter() - g.bench_started) * 1000)
        return response

    with app.app_context():
        region = db.session.scalar(select(Region.code).order_by(Region.id)) or "x"
        db.session.remove()
    client = app.test_client()
    results: dict[str, Any] = {}
    for label, query in SHAPES:
        url_path = "/instruments?" + query.format(region=quote(region))
        for _ in range(3):  # warm-up: template compilation, connection pool, caches
            client.get(url_path)
        timings.clear()
        wall: list[float] = []
        hits = ""
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get(url_path)
            wall.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{url_path} answered {response.status_code}")
            if not hits:
                body = response.get_data(as_text=True)
                marker = 'data-total="'
                hits = body[body.index(marker) + len(marker) :].split('"', 1)[0]
        results[label] = {
            "url": url_path,
            "hits": int(hits),
            "median": statistics.median(timings),
            "p95": _p95(timings),
            "wall_p95": _p95(wall),
        }
    rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(RESULT + json.dumps({"shapes": results, "rss_mb": rss_kb / 1024}), flush=True)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


# --- the parent: databases, children, the table ----------------------------------------


def _child(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, __file__, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT))
            return result
    sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
    raise SystemExit(f"bench child {args[0]} failed (exit {proc.returncode})")


def _postgres_answers() -> bool:
    try:
        import psycopg

        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except Exception:  # any failure means "not reachable": skip PostgreSQL
        return False


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(sql)


def _availability(url: str) -> dict[str, Any]:
    """bench/availability.py in a child process, on a database holding the catalogue."""
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "availability.py"), url],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT):
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT))
            return result
    sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-5000:])
    raise SystemExit(f"availability child failed (exit {proc.returncode})")


def _run_one(
    backend: str,
    scale: int,
    runs: int,
    tmp: Path,
    keep: bool,
    catalogue: bool = True,
    availability: bool = False,
) -> dict[str, Any]:
    if backend == "sqlite":
        url = f"sqlite:///{tmp / f'bench_{scale}.db'}"
        drop = None
    else:
        name = f"bench_catalogue_{os.getpid()}_{scale}"
        _admin(f'DROP DATABASE IF EXISTS "{name}"')
        _admin(f'CREATE DATABASE "{name}"')
        base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        url = f"{base}/{name}"
        drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    try:
        print(f"[{backend} {scale:,}] loading …", flush=True)
        seeded = _child("seed", url, str(scale))
        print(
            f"[{backend} {scale:,}] {seeded['instruments']:,} instruments via "
            f"{seeded['source']} in {seeded['seconds']:.0f} s; measuring …",
            flush=True,
        )
        measured = _child("measure", url, str(runs)) if catalogue else {}
        if availability:
            print(f"[{backend} {scale:,}] week availability …", flush=True)
            measured["availability"] = _availability(url)
    finally:
        if drop and not keep:
            _admin(drop)
    return {"backend": backend, "scale": scale, "seed": seeded, **measured}


def _table(results: list[dict[str, Any]], runs: int) -> str:
    lines = [
        "",
        f"Catalogue search, server side (inside the app, rendering included), {runs} runs each",
        "",
        f"{'database':<11}{'instruments':>12}  {'query':<31}{'hits':>8}"
        f"{'median ms':>11}{'p95 ms':>9}{'wall p95':>10}",
        "-" * 92,
    ]
    for r in results:
        for label, s in r["shapes"].items():
            flag = ""
            if r["backend"] == "postgresql" and r["scale"] >= 100_000 and s["p95"] >= TARGET_P95_MS:
                flag = "  > target"
            lines.append(
                f"{r['backend']:<11}{r['instruments']:>12,}  {label:<31}{s['hits']:>8,}"
                f"{s['median']:>11.1f}{s['p95']:>9.1f}{s['wall_p95']:>10.1f}{flag}"
            )
        lines.append("")
    lines.append("Peak RSS of the web-worker process after serving every query above:")
    for r in results:
        flag = "" if r["rss_mb"] < TARGET_RSS_MB else "  > target"
        lines.append(
            f"  {r['backend']:<11}{r['instruments']:>9,} instruments  {r['rss_mb']:>6.0f} MB{flag}"
        )
    lines.append("")
    lines.append(
        f"Targets: p95 < {TARGET_P95_MS:.0f} ms at 100,000 instruments on PostgreSQL; "
        f"worker RSS < {TARGET_RSS_MB:.0f} MB."
    )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "seed":
        child_seed(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        child_measure(sys.argv[2], int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="1705,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases")
    parser.add_argument(
        "--only",
        choices=("catalogue", "bookings", "availability", "vouchers_share", "settlement"),
        help="run one part only (default: all five)",
    )
    parser.add_argument("--workers", default="2,4,5", help="gunicorn worker counts (bookings)")
    parser.add_argument("--clients", default="1,8,32", help="concurrent clients (bookings)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per booking case")
    options = parser.parse_args()
    parts = (
        {options.only}
        if options.only
        else {"catalogue", "availability", "bookings", "vouchers_share", "settlement"}
    )
    scales = [int(s) for s in options.scales.split(",")]
    backends = options.backends.split(",")
    if "postgresql" in backends and not _postgres_answers():
        print(
            f"PostgreSQL does not answer at {ADMIN_URL.rsplit('@', 1)[-1]}: measuring SQLite only.",
            flush=True,
        )
        backends = [b for b in backends if b != "postgresql"]
    results = []
    if parts & {"catalogue", "availability"}:
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            for backend in backends:
                for scale in scales:
                    result = _run_one(
                        backend,
                        scale,
                        options.runs,
                        Path(tmp),
                        options.keep,
                        catalogue="catalogue" in parts,
                        availability="availability" in parts,
                    )
                    result["instruments"] = result["seed"]["instruments"]
                    results.append(result)
    if "catalogue" in parts:
        print(_table(results, options.runs), flush=True)
    if "availability" in parts:
        from bench import availability

        print(availability.table([r["availability"] for r in results]), flush=True)
    if "settlement" in parts:
        if "postgresql" not in backends:
            print("Settlement at scale needs PostgreSQL: skipped.", flush=True)
        else:
            from bench import settlement

            settled = settlement.run(
                [100_000, 1_000_000], progress=lambda message: print(message, flush=True)
            )
            print(settlement.table(settled), flush=True)
    if "vouchers_share" in parts:
        from bench import voucher_share

        shares = voucher_share.run(
            backends, options.runs * 4, progress=lambda message: print(message, flush=True)
        )
        print(voucher_share.table(shares), flush=True)
    if "bookings" in parts:
        if "postgresql" not in backends:
            print("Booking throughput needs PostgreSQL: skipped.", flush=True)
            return
        from bench import bookings

        booked = bookings.run(
            ADMIN_URL,
            [int(w) for w in options.workers.split(",")],
            [int(c) for c in options.clients.split(",")],
            options.seconds,
            progress=lambda message: print(message, flush=True),
        )
        print(bookings.table(booked, options.seconds), flush=True)


if __name__ == "__main__":
    main()
