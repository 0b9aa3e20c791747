"""The job registry: every scheduled job, its id and its default schedule.

A job is a plain function `(now) -> int | dict[str, int]` living in its
package's `jobs.py` (ids `<package>.<job>`); it sweeps what is due before
`now`, returns what it changed and changes nothing when run again. It runs
inside an app context; the caller (scheduler or CLI) commits once.

Schedules are seconds between runs (an int) or a crontab line in
Asia/Shanghai time (a str); None switches a job off. The app config key
SCHEDULER_INTERVALS overrides them per job id, e.g.
BOOKING_SCHEDULER_INTERVALS='{"orders.expire_requests": 60}'.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from booking.notifications import jobs as notification_jobs
from booking.orders import jobs as order_jobs
from vouchers import jobs as voucher_jobs

JobResult = int | dict[str, int]
Schedule = int | str | None

MINUTE = 60
HOUR = 3600

DEFAULT_SCHEDULES: dict[str, Schedule] = {
    "orders.expire_requests": 5 * MINUTE,
    "orders.mark_no_shows": 5 * MINUTE,
    "orders.send_reminders": 15 * MINUTE,
    "orders.close_unconfirmed": HOUR,
    "orders.lift_suspensions": HOUR,
    "orders.snapshot_utilisation": "30 2 * * *",  # nightly, 02:30 Asia/Shanghai
    "notifications.send_emails": MINUTE,
    # Periods end at Shanghai midnight: the first nightly run after an end closes it.
    "vouchers.settle": "15 1 * * *",  # nightly, 01:15 Asia/Shanghai
    "vouchers.expire_grants": "5 0 * * *",  # just after valid_until's day ends
    "vouchers.expire_unclaimed": "10 0 * * *",  # just after claim deadlines pass
    "vouchers.verify_balances": "45 3 * * *",
    "vouchers.remind_claim_deadlines": "0 9 * * *",  # office hours
}


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[datetime], JobResult]

    @property
    def description(self) -> str:
        """The first line of the job's docstring."""
        doc = (self.func.__doc__ or "").strip()
        return doc.splitlines()[0].strip() if doc else ""


JOBS: tuple[Job, ...] = (
    Job("orders.expire_requests", order_jobs.expire_requests),
    Job("orders.mark_no_shows", order_jobs.mark_no_shows),
    Job("orders.send_reminders", order_jobs.send_reminders),
    Job("orders.close_unconfirmed", order_jobs.close_unconfirmed),
    Job("orders.lift_suspensions", order_jobs.lift_suspensions),
    Job("orders.snapshot_utilisation", order_jobs.snapshot_utilisation),
    Job("notifications.send_emails", notification_jobs.send_emails),
    Job("vouchers.settle", voucher_jobs.settle),
    Job("vouchers.expire_grants", voucher_jobs.expire_grants),
    Job("vouchers.expire_unclaimed", voucher_jobs.expire_unclaimed),
    Job("vouchers.verify_balances", voucher_jobs.verify_balances),
    Job("vouchers.remind_claim_deadlines", voucher_jobs.remind_claim_deadlines),
)

BY_ID: dict[str, Job] = {job.id: job for job in JOBS}


class UnknownJob(LookupError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown job {self.name!r}; known jobs: {', '.join(BY_ID)}"


def get_job(name: str) -> Job:
    try:
        return BY_ID[name]
    except KeyError:
        raise UnknownJob(name) from None


def schedules(config: Mapping[str, Any]) -> dict[str, Schedule]:
    """Every job's schedule: the defaults, overridden by SCHEDULER_INTERVALS.
    Unknown ids in the override are an error (a typo would silently do nothing)."""
    overrides = config.get("SCHEDULER_INTERVALS") or {}
    if not isinstance(overrides, Mapping):
        raise ValueError("SCHEDULER_INTERVALS must be a mapping of job id to schedule")
    unknown = sorted(set(overrides) - set(BY_ID))
    if unknown:
        raise ValueError(f"SCHEDULER_INTERVALS names unknown jobs: {', '.join(unknown)}")
    merged: dict[str, Schedule] = dict(DEFAULT_SCHEDULES)
    for job_id, value in overrides.items():
        merged[job_id] = _schedule(job_id, value)
    return merged


def _schedule(job_id: str, value: Any) -> Schedule:
    if value is None or value is False or value == 0:
        return None
    if isinstance(value, bool):
        raise ValueError(f"schedule of {job_id}: use seconds, a crontab line or null")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"schedule of {job_id}: seconds must be positive")
        return int(value)
    if isinstance(value, str) and len(value.split()) == 5:
        return value
    raise ValueError(f"schedule of {job_id}: use seconds, a crontab line or null, not {value!r}")


def describe_schedule(schedule: Schedule) -> str:
    if schedule is None:
        return "off"
    if isinstance(schedule, str):
        return f"cron {schedule} (Asia/Shanghai)"
    if schedule % HOUR == 0:
        return f"every {schedule // HOUR} h"
    if schedule % MINUTE == 0:
        return f"every {schedule // MINUTE} min"
    return f"every {schedule} s"


def changed(result: JobResult) -> int:
    """How many things a job's result says it changed."""
    return sum(result.values()) if isinstance(result, dict) else int(result)


def describe_result(result: JobResult) -> str:
    if isinstance(result, dict):
        return ", ".join(f"{key}={value}" for key, value in result.items()) or "nothing"
    return str(result)
