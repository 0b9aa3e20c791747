"""Recording audit events. Called by services inside their transaction, so
the event commits or rolls back together with the change it describes."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from booking.audit.models import AuditEvent
from booking.extensions import db, utcnow

if TYPE_CHECKING:
    from booking.accounts.models import User


def record(
    actor: User | None,
    action: str,
    object_type: str,
    object_id: int,
    *,
    from_state: str | None = None,
    to_state: str | None = None,
    now: datetime | None = None,
    **detail: Any,
) -> AuditEvent:
    """Append one audit event; flushes nothing, commits nothing."""
    event = AuditEvent(
        at=now or utcnow(),
        actor_user_id=actor.id if actor else None,
        actor_org_id=actor.organization_id if actor else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        from_state=from_state,
        to_state=to_state,
        detail=detail,
    )
    db.session.add(event)
    return event


def history(object_type: str, object_id: int) -> list[AuditEvent]:
    """Every event about one object, oldest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return list(db.session.scalars(stmt))
