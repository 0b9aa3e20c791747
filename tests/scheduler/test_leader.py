"""Leader election: one scheduler leads, a standby takes over when it dies.

On PostgreSQL an advisory lock, on SQLite a lock file; the same tests run on
whichever database the suite runs on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text

from booking.extensions import db
from booking.scheduler.leader import AdvisoryLock, FileLock, lock_for
from booking.scheduler.registry import BY_ID

ROOT = Path(__file__).resolve().parents[2]


def test_only_one_holder_at_a_time(app: Flask, dialect: str) -> None:
    first, second = lock_for(app), lock_for(app)
    assert isinstance(first, AdvisoryLock if dialect == "postgresql" else FileLock)
    try:
        assert first.try_acquire()
        assert first.try_acquire()  # re-entrant for its holder
        assert not second.try_acquire()
        assert first.still_held()
        first.release()
        assert not first.still_held()
        assert second.try_acquire()
        assert not first.try_acquire()
    finally:
        first.release()
        second.release()


def test_the_lock_file_sits_next_to_the_database(app: Flask, dialect: str) -> None:
    if dialect != "sqlite":
        pytest.skip("SQLite only")
    lock = lock_for(app)
    assert isinstance(lock, FileLock)
    database = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    assert lock.path == Path(database + ".scheduler.lock")
    assert lock.try_acquire()
    try:
        assert lock.path.read_text() == f"{os.getpid()}\n"
    finally:
        lock.release()


def test_a_lost_connection_loses_the_lead(app: Flask, postgres: None) -> None:
    leader, standby = lock_for(app), lock_for(app)
    assert isinstance(leader, AdvisoryLock)
    try:
        assert leader.try_acquire()
        assert leader._conn is not None
        pid = leader._conn.execute(text("SELECT pg_backend_pid()")).scalar()
        db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        db.session.rollback()
        assert not leader.still_held()  # it must step down: another may lead now
        assert standby.try_acquire()
    finally:
        leader.release()
        standby.release()


# --- two real `flask scheduler run` processes ----------------------------------------------


class Scheduler:
    """A `flask --app booking scheduler run` subprocess, its output in a file."""

    def __init__(self, name: str, env: dict[str, str], tmp: Path) -> None:
        self.name = name
        self.log = tmp / f"{name}.log"
        self._out = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "booking", "scheduler", "run"],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )

    @property
    def output(self) -> str:
        return self.log.read_text(errors="replace")

    @property
    def leads(self) -> bool:
        return f"scheduler: leader (pid {self.proc.pid})" in self.output

    @property
    def waits(self) -> bool:
        return f"scheduler: standby (pid {self.proc.pid})" in self.output

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._out.close()


def wait_until(condition: object, timeout: float) -> float:
    """Seconds it took `condition()` to hold; fails after `timeout`."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started


@pytest.fixture
def schedulers(app: Flask, tmp_path: Path) -> Iterator[tuple[Scheduler, Scheduler]]:
    env = {
        **os.environ,
        "BOOKING_ENV": "testing",
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "BOOKING_SCHEDULER_POLL_SECONDS": "0.5",
        "BOOKING_SCHEDULER_LOG_LEVEL": "DEBUG",
        # One cheap job every second, so the new leader is seen to work.
        "BOOKING_SCHEDULER_INTERVALS": json.dumps(
            {**dict.fromkeys(BY_ID), "orders.lift_suspensions": 1}
        ),
        "PYTHONUNBUFFERED": "1",
    }
    pair = (Scheduler("a", env, tmp_path), Scheduler("b", env, tmp_path))
    try:
        yield pair
    finally:
        for scheduler in pair:
            scheduler.stop()


def test_exactly_one_leads_and_a_standby_takes_over(
    app: Flask, schedulers: tuple[Scheduler, Scheduler]
) -> None:
    a, b = schedulers
    # Start-up imports the whole app: generous, the machine may be busy.
    wait_until(lambda: (a.leads or a.waits) and (b.leads or b.waits), timeout=60)
    time.sleep(1.5)  # three polls: the standby stays a standby
    assert [a.leads, b.leads].count(True) == 1, (a.output, b.output)
    leader, standby = (a, b) if a.leads else (b, a)
    assert standby.waits and standby.proc.poll() is None
    wait_until(lambda: "job orders.lift_suspensions" in leader.output, timeout=5)

    leader.proc.send_signal(signal.SIGKILL)
    took = wait_until(lambda: standby.leads, timeout=10)
    assert took < 5, standby.output
    mark = standby.output.index("scheduler: leader")
    wait_until(lambda: "job orders.lift_suspensions" in standby.output[mark:], timeout=5)

    # SIGTERM stops the new leader cleanly and frees the lock.
    standby.proc.send_signal(signal.SIGTERM)
    assert standby.proc.wait(10) == 0, standby.output
    assert "scheduler: stopped" in standby.output
    lock = lock_for(app)
    try:
        assert lock.try_acquire()
    finally:
        lock.release()
