"""The scheduler runtime: job registry (registry.py), leader election
(leader.py), the runner (runtime.py) and its commands (cli.py).

Web workers never run jobs unless SCHEDULER_IN_PROCESS asks for the demo
mode; the app factory calls `maybe_start_in_process(app)` for that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask

if TYPE_CHECKING:
    from booking.scheduler.runtime import SchedulerRunner


def maybe_start_in_process(app: Flask) -> SchedulerRunner | None:
    """The app factory's hook (see runtime.maybe_start_in_process). Costs
    nothing, not even the APScheduler import, when SCHEDULER_IN_PROCESS is off."""
    if not app.config.get("SCHEDULER_IN_PROCESS"):
        return None
    from booking.scheduler.runtime import maybe_start_in_process as maybe_start

    return maybe_start(app)
