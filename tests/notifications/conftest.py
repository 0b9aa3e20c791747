"""Notification tests: the order-change receivers connected, and the
bookable world of tests/orders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask

from booking.notifications import handlers
from booking.orders.signals import order_changed
from tests.orders.conftest import firm_user, instrument, make_firm_user

__all__ = ["firm_user", "instrument", "make_firm_user"]


@pytest.fixture(autouse=True)
def receivers(app: Flask) -> Iterator[None]:
    """Connect the receivers as create_app does; leave them as found."""
    was_connected = id(handlers.on_order_changed) in order_changed.receivers
    handlers.init_app(app)
    yield
    if not was_connected:
        order_changed.disconnect(handlers.on_order_changed)
