"""Scheduled sweeps of the notifications package."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from booking.notifications.services import send_pending_emails


def send_emails(now: datetime) -> int:
    """E-mail the notifications not e-mailed yet (only when MAIL_SERVER is set).

    Returns how many were sent; each is stamped emailed_at, so a re-run sends
    nothing twice. A failing SMTP server leaves them pending for the next run.
    """
    return send_pending_emails(current_app.config, now)
