"""Request-side wiring shared by every blueprint: error pages, template
helpers, security headers, sessions that expire."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort, jsonify, render_template, request, session
from flask_babel import gettext as _
from flask_bootstrap import Bootstrap5
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from booking import i18n
from booking.core.navigation import badge_count, nav_items
from booking.db import MAX_ID
from booking.extensions import db

bootstrap = Bootstrap5()


class BoundedIntConverter(IntegerConverter):
    """`<int:id>` limited to the 32-bit ids the database uses: a larger number
    names nothing and answers 404, instead of overflowing the driver."""

    def __init__(
        self,
        map: Any,
        fixed_digits: int = 0,
        min: int | None = None,
        max: int | None = None,
        signed: bool = False,
    ) -> None:
        super().__init__(
            map,
            fixed_digits,
            min if min is not None else 0,
            max if max is not None else MAX_ID,
            signed,
        )


def _contains_nul(values: Any) -> bool:
    return any("\x00" in key or any("\x00" in v for v in vals) for key, vals in values.lists())


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _error_page(error: HTTPException) -> Any:
    code = error.code or 500
    messages = {
        400: _("请求有误：%(detail)s", detail=error.description or ""),
        403: _("您没有权限执行此操作。"),
        404: _("页面不存在，或您无权查看。"),
        405: _("不支持此请求方式。"),
        413: _("上传的文件太大。"),
        429: _("尝试次数过多，请稍后再试。"),
    }
    message = messages.get(code, _("服务器出错了，请稍后重试。"))
    if _wants_json():
        return jsonify(error=message, status=code), code
    return render_template("errors/error.html", code=code, message=message), code


def init_app(app: Flask) -> None:
    app.config["BOOTSTRAP_SERVE_LOCAL"] = True  # no CDN: pages work offline
    bootstrap.init_app(app)

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException) -> Any:
        if error.code and error.code >= 500:
            db.session.rollback()
        return _error_page(error)

    @app.errorhandler(CSRFError)
    def handle_csrf_error(error: CSRFError) -> Any:
        message = _("页面已过期或表单无效，请刷新后重试。")
        return render_template("errors/error.html", code=400, message=message), 400

    @app.before_request
    def _refuse_nul_bytes() -> None:
        # PostgreSQL text cannot hold NUL; no field of ours has a use for it.
        if (
            "\x00" in request.path
            or _contains_nul(request.args)
            or (request.method == "POST" and _contains_nul(request.form))
        ):
            abort(400, description=_("请求包含无效字符。"))

    @app.before_request
    def _sessions_expire() -> None:
        # Permanent sessions use PERMANENT_SESSION_LIFETIME and are refreshed on
        # each request, so an idle session expires and an active one does not.
        session.permanent = True

    @app.after_request
    def _security_headers(response: Any) -> Any:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    app.jinja_env.filters["money"] = i18n.money
    app.jinja_env.filters["wan_yuan"] = i18n.wan_yuan
    app.jinja_env.filters["local_dt"] = i18n.local_datetime

    @app.context_processor
    def _template_globals() -> dict[str, Any]:
        return {
            "nav_items": nav_items,
            "badge_count": badge_count,
            "current_locale": i18n.current_locale,
            "is_english": i18n.is_english,
        }
