"""Scheduler tests use the bookable world of tests/orders."""

from __future__ import annotations

from tests.orders.conftest import firm_user, instrument, make_firm_user

__all__ = ["firm_user", "instrument", "make_firm_user"]
