"""Training authorisations: a provider records that an enterprise user may
operate one of its instruments themselves (占用共享). Booking checks them
through `booking.orders.services.has_training`.

One row per (instrument, user) — the table's unique constraint — so a
revoked or lapsed authorisation is renewed in place and its earlier life
stays in the audit trail. Services flush; the request commits.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError

from booking.accounts.models import OrgKind, User
from booking.audit.services import record
from booking.errors import DomainError, InvalidTransition, NotFound, PermissionDenied
from booking.extensions import db
from booking.orders.models import TrainingAuthorisation
from instruments.models import Instrument


def _require_provider_staff(actor: User) -> None:
    if actor.organization.kind != OrgKind.PROVIDER:
        raise PermissionDenied(_l("只有服务机构可以管理培训授权。"))


def _own_instrument(actor: User, instrument_id: int) -> Instrument:
    instrument = db.session.get(Instrument, instrument_id)
    if instrument is None or instrument.provider_id != actor.organization_id:
        raise NotFound(_l("仪器不存在。"))
    return instrument


def is_current(grant: TrainingAuthorisation, now: datetime) -> bool:
    """Not revoked and not lapsed — what `has_training` accepts."""
    return grant.revoked_at is None and (grant.valid_until is None or grant.valid_until > now)


def grant_training(
    actor: User,
    instrument_id: int,
    email: str,
    now: datetime,
    valid_until: datetime | None = None,
    note: str = "",
) -> TrainingAuthorisation:
    """Authorise the enterprise user with this e-mail to operate one of the
    actor's provider's instruments, until `valid_until` (exclusive) or without
    end. Refused with its own message: an unknown e-mail, a user who is not
    an enterprise user, an end in the past, an authorisation that is already
    current. Another provider's instrument is NotFound. Audited."""
    _require_provider_staff(actor)
    instrument = _own_instrument(actor, instrument_id)
    address = email.strip().lower()
    user = db.session.scalar(select(User).where(func.lower(User.email) == address))
    if user is None:
        raise DomainError(_l("没有使用该邮箱的用户，请确认对方已在平台注册。"), field="email")
    if user.organization.kind != OrgKind.ENTERPRISE:
        raise DomainError(_l("培训授权只能授予企业用户。"), field="email")
    if not user.active:
        raise DomainError(_l("该用户账号已停用。"), field="email")
    if valid_until is not None and valid_until <= now:
        raise DomainError(_l("有效期须晚于今天。"), field="valid_until")
    note = note.strip()

    grant = db.session.scalar(
        select(TrainingAuthorisation).where(
            TrainingAuthorisation.instrument_id == instrument.id,
            TrainingAuthorisation.user_id == user.id,
        )
    )
    if grant is not None and is_current(grant, now):
        raise DomainError(_l("%(name)s 已有该仪器的有效培训授权。", name=user.name), field="email")
    renewed = grant is not None
    if grant is None:
        grant = TrainingAuthorisation(instrument_id=instrument.id, user_id=user.id)
    grant.granted_by_id = actor.id
    grant.granted_at = now
    grant.valid_until = valid_until
    grant.revoked_at = None
    grant.note = note
    try:
        with db.session.begin_nested():
            db.session.add(grant)
            db.session.flush()
    except IntegrityError:
        # Another request granted the same pair a moment ago.
        raise DomainError(
            _l("%(name)s 已有该仪器的有效培训授权。", name=user.name), field="email"
        ) from None
    record(
        actor,
        "training.grant",
        "training_authorisation",
        grant.id,
        to_state="active",
        now=now,
        instrument_id=instrument.id,
        user_id=user.id,
        email=user.email,
        valid_until=valid_until.isoformat() if valid_until else None,
        renewed=renewed,
    )
    return grant


def revoke_training(actor: User, grant_id: int, now: datetime) -> TrainingAuthorisation:
    """Withdraw an authorisation of the actor's provider. Bookings already
    placed stay; new self-operated bookings are refused. Audited."""
    _require_provider_staff(actor)
    grant = provider_grant(actor.organization_id, grant_id)
    if grant.revoked_at is not None:
        raise InvalidTransition(_l("该培训授权已经撤销。"))
    grant.revoked_at = now
    record(
        actor,
        "training.revoke",
        "training_authorisation",
        grant.id,
        from_state="active",
        to_state="revoked",
        now=now,
        instrument_id=grant.instrument_id,
        user_id=grant.user_id,
    )
    db.session.flush()
    return grant


def provider_grant(provider_id: int, grant_id: int) -> TrainingAuthorisation:
    """One authorisation on the provider's instruments; another's is NotFound."""
    grant = db.session.scalar(
        select(TrainingAuthorisation)
        .join(Instrument, Instrument.id == TrainingAuthorisation.instrument_id)
        .where(TrainingAuthorisation.id == grant_id, Instrument.provider_id == provider_id)
    )
    if grant is None:
        raise NotFound(_l("培训授权不存在。"))
    return grant


def current_grants(
    provider_id: int, now: datetime, instrument_id: int | None = None
) -> Select[Any]:
    """The provider's current authorisations (not revoked, not lapsed), by
    instrument then user name."""
    stmt = (
        select(TrainingAuthorisation)
        .join(Instrument, Instrument.id == TrainingAuthorisation.instrument_id)
        .join(User, User.id == TrainingAuthorisation.user_id)
        .where(
            Instrument.provider_id == provider_id,
            TrainingAuthorisation.revoked_at.is_(None),
            or_(
                TrainingAuthorisation.valid_until.is_(None),
                TrainingAuthorisation.valid_until > now,
            ),
        )
        .order_by(Instrument.internal_no, User.name, TrainingAuthorisation.id)
    )
    if instrument_id is not None:
        stmt = stmt.where(Instrument.id == instrument_id)
    return stmt
