"""The job registry and its schedules."""

from __future__ import annotations

import pytest

from booking.scheduler import registry


def test_every_job_has_a_package_id_a_schedule_and_a_description() -> None:
    assert set(registry.BY_ID) == set(registry.DEFAULT_SCHEDULES)
    for job in registry.JOBS:
        package, _, name = job.id.partition(".")
        assert package in ("orders", "notifications", "vouchers") and name == job.func.__name__
        assert job.description and "\n" not in job.description
    assert registry.get_job("orders.expire_requests").func.__module__ == "booking.orders.jobs"


def test_config_overrides_and_switches_off() -> None:
    planned = registry.schedules(
        {
            "SCHEDULER_INTERVALS": {
                "orders.expire_requests": 60,
                "notifications.send_emails": None,
                "orders.snapshot_utilisation": "0 3 * * *",
            }
        }
    )
    assert planned["orders.expire_requests"] == 60
    assert planned["notifications.send_emails"] is None
    assert planned["orders.snapshot_utilisation"] == "0 3 * * *"
    assert planned["orders.mark_no_shows"] == 300
    assert registry.describe_schedule(300) == "every 5 min"
    assert registry.describe_schedule(3600) == "every 1 h"
    assert registry.describe_schedule(45) == "every 45 s"
    assert registry.describe_schedule(None) == "off"


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"orders.expire_request": 60}, "unknown jobs: orders.expire_request"),
        ({"orders.expire_requests": "soon"}, "crontab"),
        ({"orders.expire_requests": -5}, "positive"),
        (["orders.expire_requests"], "mapping"),
    ],
)
def test_bad_overrides_are_refused(overrides: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        registry.schedules({"SCHEDULER_INTERVALS": overrides})


def test_unknown_job_names_the_known_ones() -> None:
    with pytest.raises(registry.UnknownJob, match=r"orders\.expire_requests"):
        registry.get_job("orders.nope")


def test_results_count_what_changed() -> None:
    assert registry.changed({"bookings": 2, "service_orders": 1}) == 3
    assert registry.changed(0) == 0
    assert (
        registry.describe_result({"bookings": 2, "service_orders": 0})
        == "bookings=2, service_orders=0"
    )
