"""The runner: one transaction per job run, failures logged and survived,
jobs actually fired by APScheduler, stepping down when the lock is lost,
and the in-process (demo) start."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from booking import create_app
from booking.accounts.models import User
from booking.extensions import db, utcnow
from booking.orders.models import Suspension
from booking.scheduler import maybe_start_in_process, registry
from booking.scheduler.runtime import SchedulerRunner, _scheduled_run, run_job
from tests.orders.conftest import NOW

ALL_OFF: dict[str, None] = dict.fromkeys(registry.BY_ID)


@pytest.fixture(autouse=True)
def _scheduler_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test app's Alembic upgrade (logging.config.fileConfig) disables
    # loggers that existed before it ran; ours must speak in these tests.
    monkeypatch.setattr(logging.getLogger("booking.scheduler"), "disabled", False)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def suspension_count() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Suspension)) or 0


def add_suspension(user: User, ends_at: datetime) -> int:
    suspension = Suspension(
        enterprise_id=user.organization_id, starts_at=ends_at - timedelta(1), ends_at=ends_at
    )
    db.session.add(suspension)
    db.session.commit()
    return suspension.id


@pytest.fixture
def failing_job(firm_user: User, monkeypatch: pytest.MonkeyPatch) -> registry.Job:
    """A job that writes, then fails."""

    def explode(now: datetime) -> int:
        """Write a row, then fail."""
        db.session.add(
            Suspension(
                enterprise_id=firm_user.organization_id,
                starts_at=now,
                ends_at=now + timedelta(days=1),
            )
        )
        db.session.flush()
        raise RuntimeError("boom")

    job = registry.Job("tests.explode", explode)
    monkeypatch.setitem(registry.BY_ID, job.id, job)
    return job


def test_run_job_commits_once(app: Flask, firm_user: User) -> None:
    add_suspension(firm_user, NOW)
    result = run_job(app, registry.get_job("orders.lift_suspensions"), NOW)
    assert result == 1
    db.session.rollback()
    assert db.session.scalars(select(Suspension.lifted_at)).one() == NOW


def test_a_failing_job_rolls_back_and_the_scheduler_survives(
    app: Flask, failing_job: registry.Job, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        run_job(app, failing_job, NOW)
    assert suspension_count() == 0

    with caplog.at_level(logging.ERROR, logger="booking.scheduler"):
        _scheduled_run(app, failing_job.id)  # does not raise
    assert suspension_count() == 0
    assert "job tests.explode failed; rolled back" in caplog.text
    assert "RuntimeError: boom" in caplog.text


def test_the_cli_reports_a_failing_job_without_committing(
    app: Flask, failing_job: registry.Job
) -> None:
    result = app.test_cli_runner().invoke(args=["jobs", "run", failing_job.id])
    assert result.exit_code == 1
    assert "job tests.explode failed and changed nothing: boom" in result.output
    assert suspension_count() == 0


@pytest.fixture
def runner_thread(app: Flask) -> Iterator[Callable[[SchedulerRunner], None]]:
    started: list[tuple[SchedulerRunner, Any]] = []

    def start(runner: SchedulerRunner) -> None:
        import threading

        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        started.append((runner, thread))

    yield start
    for runner, thread in started:
        runner.stop()
        thread.join(10)
        assert not thread.is_alive()


def test_the_leader_runs_jobs_on_their_schedule(
    app: Flask,
    firm_user: User,
    monkeypatch: pytest.MonkeyPatch,
    runner_thread: Callable[[SchedulerRunner], None],
) -> None:
    monkeypatch.setitem(
        app.config, "SCHEDULER_INTERVALS", {**ALL_OFF, "orders.lift_suspensions": 1}
    )
    add_suspension(firm_user, utcnow() - timedelta(minutes=1))
    runner = SchedulerRunner(app, poll=0.2)
    runner_thread(runner)
    assert runner.is_leader.wait(10)

    def lifted() -> bool:
        db.session.rollback()
        return db.session.scalars(select(Suspension.lifted_at)).one() is not None

    assert wait_for(lifted, timeout=10)


class FlakyLock:
    """A lock that is lost once, after it was first taken."""

    def __init__(self) -> None:
        self.acquired = 0
        self.lose = False

    def try_acquire(self) -> bool:
        self.acquired += 1
        return True

    def still_held(self) -> bool:
        if self.lose:
            self.lose = False
            return False
        return True

    def release(self) -> None:
        pass

    def describe(self) -> str:
        return "flaky lock"


def test_a_leader_that_loses_its_lock_steps_down_and_tries_again(
    app: Flask,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    runner_thread: Callable[[SchedulerRunner], None],
) -> None:
    monkeypatch.setitem(app.config, "SCHEDULER_INTERVALS", ALL_OFF)
    lock = FlakyLock()
    runner = SchedulerRunner(app, lock=lock, poll=0.1)
    with caplog.at_level(logging.INFO, logger="booking.scheduler"):
        runner_thread(runner)
        assert runner.is_leader.wait(10)
        lock.lose = True
        assert wait_for(lambda: lock.acquired >= 2 and runner.is_leader.is_set())
    assert "stepped down" in caplog.text


def test_a_bad_schedule_fails_at_start(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.config, "SCHEDULER_INTERVALS", {"orders.nope": 5})
    with pytest.raises(ValueError, match="unknown jobs"):
        SchedulerRunner(app)
    result = app.test_cli_runner().invoke(args=["scheduler", "run"])
    assert result.exit_code == 1
    assert "unknown jobs: orders.nope" in result.output


def test_maybe_start_in_process(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    assert maybe_start_in_process(app) is None  # SCHEDULER_IN_PROCESS is off

    demo = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"],
        SCHEDULER_IN_PROCESS=True,
        SCHEDULER_POLL_SECONDS=0.2,
        SCHEDULER_INTERVALS=ALL_OFF,
    )
    # The debug reloader's watcher process does not start one; its child does.
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    assert maybe_start_in_process(demo) is None
    monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
    runner = maybe_start_in_process(demo)
    try:
        assert runner is not None and runner.thread is not None
        assert runner.thread.daemon
        assert runner.is_leader.wait(10)
        assert maybe_start_in_process(demo) is runner  # once per app
    finally:
        assert runner is not None and runner.thread is not None
        runner.stop()
        runner.thread.join(10)
        assert not runner.thread.is_alive()
        with demo.app_context():
            db.engine.dispose()
