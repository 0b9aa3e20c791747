"""Running the jobs on a schedule, in one process of the whole deployment.

`SchedulerRunner.run()` waits as a standby until it holds the leader lock
(see leader.py), then runs an APScheduler 3 BlockingScheduler (UTC) with
every job of the registry, until it is stopped or loses the lock; a lost
lock sends it back to standby. Each job run gets its own app context and
transaction: it is called with now = utcnow(), committed once, and on error
rolled back and logged; the scheduler goes on.

`flask --app booking scheduler run` runs it in the foreground;
`start_in_background` runs it in a daemon thread (`make run`'s demo mode),
under the same lock.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from typing import Any

import click
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from flask.cli import run_command
from flask.helpers import get_debug_flag
from werkzeug.serving import is_running_from_reloader

from booking.db import serialize_writes
from booking.extensions import db, utcnow
from booking.orders.clock import SHANGHAI
from booking.scheduler.leader import LeaderLock, lock_for
from booking.scheduler.registry import (
    Job,
    JobResult,
    changed,
    describe_result,
    describe_schedule,
    get_job,
    schedules,
)

log = logging.getLogger("booking.scheduler")

DEFAULT_POLL_SECONDS = 5.0
_EXTENSION_KEY = "booking.scheduler"


def poll_seconds(app: Flask) -> float:
    """How often a standby tries the lock and a leader checks it still holds it
    (config SCHEDULER_POLL_SECONDS)."""
    return max(0.1, float(app.config.get("SCHEDULER_POLL_SECONDS", DEFAULT_POLL_SECONDS)))


def run_job(app: Flask, job: Job, now: datetime | None = None) -> JobResult:
    """Run one job once in its own app context and transaction: commit once;
    roll back and re-raise on error."""
    with app.app_context():
        try:
            # SQLite: take the write lock first, so the job cannot fail halfway
            # on a writer that came in between its reads and its writes.
            serialize_writes(db.session)
            result = job.func(now or utcnow())
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise
    return result


def _scheduled_run(app: Flask, job_id: str) -> None:
    """What the scheduler calls: never raises, so one failure stops nothing."""
    try:
        job = get_job(job_id)
        result = run_job(app, job)
    except Exception:
        log.exception("job %s failed; rolled back", job_id)
        return
    if changed(result):
        log.info("job %s: %s", job_id, describe_result(result))
    else:
        log.debug("job %s: nothing to do", job_id)


class SchedulerRunner:
    """A standby until it holds the leader lock; then the scheduler."""

    def __init__(
        self, app: Flask, lock: LeaderLock | None = None, poll: float | None = None
    ) -> None:
        self.app = app
        self.lock = lock or lock_for(app)
        self.poll = poll if poll is not None else poll_seconds(app)
        self.schedules = schedules(app.config)  # a bad config fails at start, not later
        self._stop = threading.Event()
        self._scheduler: BlockingScheduler | None = None
        self.is_leader = threading.Event()
        self.thread: threading.Thread | None = None  # set when run in the background

    # --- lifecycle --------------------------------------------------------------------------

    def run(self) -> None:
        """Block until `stop()`: wait for the lock, lead, step down if it is lost."""
        try:
            while not self._stop.is_set():
                if not self.lock.try_acquire():
                    self._standby()
                    continue
                try:
                    self._lead()
                finally:
                    self.is_leader.clear()
                    self.lock.release()
        finally:
            self.lock.release()

    def stop(self) -> None:
        """Ask the runner to finish; the leader stops within one poll interval."""
        self._stop.set()

    def _standby(self) -> None:
        log.info(
            "scheduler: standby (pid %d), waiting for the %s", os.getpid(), self.lock.describe()
        )
        while not self._stop.is_set():
            if self._stop.wait(self.poll):
                return
            if self.lock.try_acquire():
                return

    def _lead(self) -> None:
        scheduler = self._build()
        self._scheduler = scheduler
        self.is_leader.set()
        jobs = [job for job in scheduler.get_jobs() if job.id != "scheduler.watch"]
        log.info(
            "scheduler: leader (pid %d) holding the %s; %d jobs scheduled",
            os.getpid(),
            self.lock.describe(),
            len(jobs),
        )
        try:
            scheduler.start()  # blocks until _watch shuts it down
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            self._scheduler = None
        if not self._stop.is_set():
            log.warning("scheduler: stepped down (pid %d); back to standby", os.getpid())

    def _watch(self) -> None:
        """Runs every poll interval in the leader: stop when asked or when
        the lock may be gone (another process may lead by now)."""
        scheduler = self._scheduler
        if scheduler is None:
            return
        if self._stop.is_set() or not self.lock.still_held():
            scheduler.shutdown(wait=False)

    def _build(self) -> BlockingScheduler:
        scheduler = BlockingScheduler(
            timezone="UTC",
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        for job_id, schedule in self.schedules.items():
            if schedule is None:
                continue
            trigger: Any
            if isinstance(schedule, str):
                trigger = CronTrigger.from_crontab(schedule, timezone=SHANGHAI)
            else:
                trigger = IntervalTrigger(seconds=schedule, timezone="UTC")
            scheduler.add_job(
                _scheduled_run,
                trigger,
                args=(self.app, job_id),
                id=job_id,
                name=f"{job_id} ({describe_schedule(schedule)})",
            )
        scheduler.add_job(
            self._watch,
            IntervalTrigger(seconds=self.poll, timezone="UTC"),
            id="scheduler.watch",
            misfire_grace_time=None,
        )
        return scheduler


# --- in-process (demo) --------------------------------------------------------------------


def start_in_background(app: Flask) -> SchedulerRunner:
    """Run the leader loop in a daemon thread of this process (once per app).
    Another process holding the lock keeps this one a standby."""
    existing = app.extensions.get(_EXTENSION_KEY)
    if isinstance(existing, SchedulerRunner):
        return existing
    runner = SchedulerRunner(app)
    app.extensions[_EXTENSION_KEY] = runner
    runner.thread = threading.Thread(target=runner.run, name="booking-scheduler", daemon=True)
    runner.thread.start()
    return runner


def maybe_start_in_process(app: Flask) -> SchedulerRunner | None:
    """The app factory's hook: start the in-process scheduler when
    SCHEDULER_IN_PROCESS is true and this process serves requests.

    Not in CLI commands other than `run` (migrations, seeding, jobs, the
    scheduler itself), and under the debug reloader only in the child that
    serves (WERKZEUG_RUN_MAIN=true), not in the watcher parent.
    """
    if not app.config.get("SCHEDULER_IN_PROCESS"):
        return None
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.command is not run_command:
        return None
    if (app.debug or get_debug_flag()) and not is_running_from_reloader():
        return None
    return start_in_background(app)
