"""Run the test suite on SQLite, then on a fresh PostgreSQL database.

PostgreSQL is used when reachable (DATABASE_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/postgres); with CI=true it is required:
if it does not answer, the local cluster is started, and if it still does
not answer the run fails. Each PostgreSQL run gets its own database, dropped
afterwards. Extra arguments go to pytest.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("DATABASE_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
CI = os.environ.get("CI", "").lower() == "true"


def pytest(env_extra: dict[str, str], label: str) -> int:
    print(f"\n=== tests on {label} ===", flush=True)
    env = {**os.environ, **env_extra}
    return subprocess.call([sys.executable, "-m", "pytest", *sys.argv[1:]], cwd=ROOT, env=env)


def postgres_answers() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def start_local_postgres() -> None:
    versions = sorted(Path("/etc/postgresql").glob("*")) if Path("/etc/postgresql").exists() else []
    if not versions:
        return
    subprocess.call(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1].name, "main", "start"]
    )
    for _ in range(30):
        if postgres_answers():
            return
        time.sleep(1)


def main() -> int:
    status = pytest({"TEST_DATABASE_URL": ""}, "SQLite")
    if not postgres_answers():
        start_local_postgres()
    if not postgres_answers():
        if CI:
            print("PostgreSQL is required when CI=true and does not answer.", file=sys.stderr)
            return 1
        print("\nPostgreSQL not reachable: skipping the PostgreSQL run.", flush=True)
        return status
    name = f"booking_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        pg_status = pytest({"TEST_DATABASE_URL": f"{base}/{name}"}, f"PostgreSQL ({name})")
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return status or pg_status


if __name__ == "__main__":
    sys.exit(main())
