"""`flask jobs list` and `flask jobs run NAME [--now ...]`."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from booking.accounts.models import User
from booking.extensions import db
from booking.orders.models import Booking, OrderStatus
from booking.orders.services import place_booking
from booking.scheduler.cli import parse_now
from booking.scheduler.registry import JOBS
from instruments.models import Instrument
from tests.orders.conftest import NOW, request_for


@pytest.fixture
def cli(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


def test_jobs_list(cli: FlaskCliRunner) -> None:
    result = cli.invoke(args=["jobs", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(JOBS)
    for job, line in zip(JOBS, lines, strict=True):
        assert line.startswith(job.id)
        assert job.description in line
    assert "every 5 min" in lines[0]
    assert "cron 30 2 * * * (Asia/Shanghai)" in result.output


def test_jobs_run_with_now(cli: FlaskCliRunner, instrument: Instrument, firm_user: User) -> None:
    booking = place_booking(firm_user, request_for(instrument), NOW)
    db.session.commit()
    booking_id = booking.id

    early = cli.invoke(
        args=["jobs", "run", "orders.expire_requests", "--now", "2026-12-03T07:59+08:00"]
    )
    assert early.exit_code == 0, early.output
    assert early.output == "orders.expire_requests: bookings=0, service_orders=0\n"

    result = cli.invoke(
        args=["jobs", "run", "orders.expire_requests", "--now", "2026-12-03T08:00+08:00"]
    )
    assert result.exit_code == 0, result.output
    assert result.output == "orders.expire_requests: bookings=1, service_orders=0\n"
    db.session.rollback()  # see what the command committed
    expired = db.session.get(Booking, booking_id)
    assert expired is not None and expired.status == OrderStatus.EXPIRED
    assert expired.updated_at == NOW + timedelta(hours=48)

    again = cli.invoke(
        args=["jobs", "run", "orders.expire_requests", "--now", "2026-12-03T08:00+08:00"]
    )
    assert again.output == "orders.expire_requests: bookings=0, service_orders=0\n"


def test_jobs_run_without_now_uses_the_clock(cli: FlaskCliRunner) -> None:
    result = cli.invoke(args=["jobs", "run", "orders.lift_suspensions"])
    assert result.exit_code == 0, result.output
    assert result.output == "orders.lift_suspensions: 0\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["jobs", "run", "orders.nope"], "unknown job 'orders.nope'"),
        (
            ["jobs", "run", "orders.expire_requests", "--now", "tomorrow"],
            "'tomorrow' is not a date and time",
        ),
        (
            ["jobs", "run", "orders.expire_requests", "--now", "2026-13-01T08:00"],
            "is not a date and time",
        ),
    ],
)
def test_bad_input_is_a_clear_usage_error(
    cli: FlaskCliRunner, args: list[str], message: str
) -> None:
    result = cli.invoke(args=args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_now_without_offset_is_shanghai_time() -> None:
    assert parse_now("2026-12-01T08:00") == NOW
    assert parse_now("2026-12-01T00:00Z") == NOW
    assert parse_now("2026-12-01T08:00+08:00") == NOW
