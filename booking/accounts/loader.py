"""How flask-login finds the signed-in user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import flask_login
from flask import Blueprint, abort
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from sqlalchemy.orm import joinedload

from booking.accounts.models import User
from booking.extensions import db

F = TypeVar("F", bound=Callable[..., Any])

# flask-login ships no type hints; views import this typed alias instead.
login_required = cast(Callable[[F], F], flask_login.login_required)


def current_actor() -> User:
    """The signed-in user as the model (views pass it to services as `actor`)."""
    return cast(User, current_user._get_current_object())


def restrict_blueprint(bp: Blueprint, *kinds: str) -> None:
    """Every page of `bp` is for users of these organization kinds. Anonymous
    visitors are sent to sign in (with ?next=); to anyone else the pages do
    not exist (404), so their existence is not advertised."""

    @login_required
    def gate() -> None:
        if current_user.kind not in kinds:
            abort(404)

    bp.before_request(gate)


# The organization comes with the user: nearly every page asks for its kind.
# Built once: the option is immutable, and this runs on every request.
_WITH_ORGANIZATION = (joinedload(User.organization),)


def load_user(session_id: str) -> User | None:
    """Session ids are "user_id:password_stamp"; a stale stamp signs out."""
    user_id, _, stamp = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id), options=_WITH_ORGANIZATION)
    if user is None or not user.active or user.get_id() != session_id or not stamp:
        return None
    return user


def init_login_manager(manager: LoginManager) -> None:
    manager.user_loader(load_user)
    manager.login_view = "accounts.login"
    manager.login_message = _l("请先登录。")
    manager.login_message_category = "warning"
    manager.session_protection = "strong"
