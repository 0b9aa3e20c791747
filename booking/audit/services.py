"""Recording audit events. Called by services inside their transaction, so
the event commits or rolls back together with the change it describes."""

from __future__ import annotations

from collections.abc import Iterable
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


def actor_names(events: Iterable[AuditEvent]) -> dict[int, str]:
    """Names of the users who acted in `events` (one query, none if no actor)."""
    from booking.accounts.models import User

    ids = {e.actor_user_id for e in events if e.actor_user_id is not None}
    if not ids:
        return {}
    rows = db.session.execute(select(User.id, User.name).where(User.id.in_(ids))).all()
    return {int(i): str(n) for i, n in rows}


def history_with_actors(object_type: str, object_id: int) -> dict[str, Any]:
    """Template context for a history panel: `events` and `actor_names`."""
    events = history(object_type, object_id)
    return {"events": events, "actor_names": actor_names(events)}


def history(object_type: str, object_id: int) -> list[AuditEvent]:
    """Every event about one object, oldest first."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.object_type == object_type, AuditEvent.object_id == object_id)
        .order_by(AuditEvent.at, AuditEvent.id)
    )
    return list(db.session.scalars(stmt))
