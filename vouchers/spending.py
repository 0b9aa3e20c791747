"""Paying for orders with vouchers: the voucher share, and the money that
follows the order (hold → lock → use / release). Subscribes to the order
engine's events."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Connect the order-event receivers (filled in by the spending work)."""
