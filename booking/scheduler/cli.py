"""`flask --app booking scheduler run`, `jobs list` and `jobs run NAME`."""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import re
import signal
from datetime import datetime
from types import FrameType
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from booking.errors import DomainError
from booking.orders.clock import SHANGHAI

scheduler_cli = AppGroup("scheduler", help="The job scheduler (one leader per deployment).")
jobs_cli = AppGroup("jobs", help="List the scheduled jobs or run one by hand.")
# A settlement period's shape; vouchers.settlement checks the month and the year.
_PERIOD = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2]|Q[1-4])")


def register(app: Flask) -> None:
    app.cli.add_command(scheduler_cli)
    app.cli.add_command(jobs_cli)


@scheduler_cli.command("run")
def run_scheduler() -> None:
    """Run the scheduler in the foreground: a standby until this process
    holds the leader lock, then every job on its schedule. Stop with Ctrl-C
    or SIGTERM."""
    from booking.scheduler.runtime import SchedulerRunner

    _configure_logging(current_app)
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        runner = SchedulerRunner(app)
    except ValueError as error:  # a bad SCHEDULER_INTERVALS
        raise click.ClickException(str(error)) from None

    def _terminate(signum: int, _frame: FrameType | None) -> None:
        logging.getLogger("booking.scheduler").info("scheduler: signal %d, stopping", signum)
        runner.stop()

    signal.signal(signal.SIGTERM, _terminate)
    with contextlib.suppress(KeyboardInterrupt):
        runner.run()
    logging.getLogger("booking.scheduler").info("scheduler: stopped")


def _configure_logging(app: Flask) -> None:
    level = str(app.config.get("SCHEDULER_LOG_LEVEL", "INFO")).upper()
    if not logging.getLogger().handlers:
        logging.basicConfig(format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    logging.getLogger("booking").setLevel(level)
    # APScheduler logs every run at INFO; ours says what changed.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


@jobs_cli.command("list")
def list_jobs() -> None:
    """Every job: id, schedule, what it does."""
    from booking.scheduler.registry import JOBS, describe_schedule, schedules

    try:
        planned = schedules(current_app.config)
    except ValueError as error:
        raise click.ClickException(str(error)) from None
    width = max(len(job.id) for job in JOBS)
    for job in JOBS:
        schedule = describe_schedule(planned[job.id])
        click.echo(f"{job.id:<{width}}  {schedule:<34}  {job.description}")


def parse_now(value: str) -> datetime:
    """ISO 8601 with an offset (2026-12-01T08:00+08:00, ...Z); without one,
    Asia/Shanghai wall-clock time."""
    moment = datetime.fromisoformat(value.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=SHANGHAI)
    return moment


class _NowType(click.ParamType[datetime, object]):
    name = "ISO-8601"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_now(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not a date and time; use ISO 8601, e.g. 2026-12-01T08:00+08:00",
                param,
                ctx,
            )


@jobs_cli.command("run")
@click.argument("name")
@click.option(
    "--now",
    "now",
    type=_NowType(),
    default=None,
    help="Run as if it were this moment (default: the current time). "
    "Without an offset, Asia/Shanghai time.",
)
@click.option(
    "--period",
    "period",
    default=None,
    help="For jobs that take one (vouchers.settle): the settlement period, "
    "YYYY-MM (monthly) or YYYY-Qn (quarterly), e.g. 2026-10 or 2026-Q4.",
)
def run_one(name: str, now: datetime | None, period: str | None) -> None:
    """Run the job NAME once, commit, and print what it changed."""
    from booking.scheduler.registry import Job, UnknownJob, describe_result, get_job
    from booking.scheduler.runtime import run_job

    try:
        job = get_job(name)
    except UnknownJob as error:
        raise click.BadParameter(str(error), param_hint="NAME") from None
    if period is not None:
        if "period" not in inspect.signature(job.func).parameters:
            raise click.BadParameter(f"job {job.id} takes no period", param_hint="--period")
        if not _PERIOD.fullmatch(period.strip()):
            raise click.BadParameter(
                f"{period!r} is not a period; use YYYY-MM (e.g. 2026-10) or YYYY-Qn (e.g. 2026-Q4)",
                param_hint="--period",
            )
        # Only jobs that accept a period get one; the job checks the period has ended.
        takes_period: Any = job.func  # the registry types jobs as (now) -> result
        job = Job(job.id, functools.partial(takes_period, period=period.strip()))
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        result = run_job(app, job, now)
    except DomainError as error:  # a refused input (e.g. a period not yet ended), no traceback
        raise click.ClickException(f"job {job.id} changed nothing: {error}") from None
    except Exception as error:
        app.logger.exception("job %s failed", job.id)
        raise click.ClickException(f"job {job.id} failed and changed nothing: {error}") from None
    click.echo(f"{job.id}: {describe_result(result)}")
