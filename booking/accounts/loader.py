"""How flask-login finds the signed-in user."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import flask_login
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager

from booking.accounts.models import User
from booking.extensions import db

F = TypeVar("F", bound=Callable[..., Any])

# flask-login ships no type hints; views import this typed alias instead.
login_required = cast(Callable[[F], F], flask_login.login_required)


def load_user(session_id: str) -> User | None:
    """Session ids are "user_id:password_stamp"; a stale stamp signs out."""
    user_id, _, stamp = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.get_id() != session_id or not stamp:
        return None
    return user


def init_login_manager(manager: LoginManager) -> None:
    manager.user_loader(load_user)
    manager.login_view = "accounts.login"
    manager.login_message = _l("请先登录。")
    manager.login_message_category = "warning"
    manager.session_protection = "strong"
