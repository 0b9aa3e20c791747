"""Public pages: the alliance home page, health check, language switch."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from flask_login import current_user

from booking.core import services
from booking.extensions import db

bp = Blueprint("core", __name__)


@bp.get("/")
def home() -> ResponseReturnValue:
    """Alliance totals and per-region figures, and the search box."""
    figures = services.alliance_figures()
    totals = {
        "institutions": sum(f.institutions for f in figures),
        "instruments": sum(f.instruments for f in figures),
        "service_items": sum(f.service_items for f in figures),
    }
    return render_template("core/home.html", figures=figures, totals=totals)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 with {"status": "ok", "database": true} while the database answers;
    503 otherwise, so a load balancer takes the worker out."""
    ok = services.database_answers()
    body = {"status": "ok" if ok else "degraded", "database": ok}
    return jsonify(body), 200 if ok else 503


def safe_next(target: str | None, fallback: str = "/") -> str:
    """Only same-site relative paths are followed after an action."""
    if not target:
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return fallback
    return target


@bp.get("/locale/<code>")
def set_locale(code: str) -> ResponseReturnValue:
    """Switch the interface language; remembered on the account when signed in."""
    if code in current_app.config["LANGUAGES"]:
        session["locale"] = code
        if current_user.is_authenticated and current_user.locale != code:
            current_user.locale = code
            db.session.commit()
    return redirect(safe_next(request.args.get("next")))
