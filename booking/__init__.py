"""Shared-instrument booking platform: the application factory.

Nothing is bound at import time; `create_app` builds one app per call (one
per test, one per worker) and imports blueprints inside, so no module
imports the app.
"""

from __future__ import annotations

import json
import os
from functools import partial
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from config import BASE_DIR, CONFIGS, Config


def create_app(config: type[Config] | str | None = None, **overrides: Any) -> Flask:
    """Build the app. `config` is a class or a name (default: $BOOKING_ENV or
    development); `overrides` win over everything (tests use them)."""
    app = Flask(
        __name__,
        instance_path=str(BASE_DIR / "instance"),
        template_folder=str(BASE_DIR / "templates"),
        static_folder=str(BASE_DIR / "static"),
    )
    if config is None or isinstance(config, str):
        name = config or os.environ.get("BOOKING_ENV", "development")
        if name not in CONFIGS:
            raise RuntimeError(f"unknown BOOKING_ENV {name!r}; use one of {sorted(CONFIGS)}")
        config = CONFIGS[name]
    app.config.from_object(config)
    _load_environment(app)
    app.config.update(overrides)
    _refuse_insecure_production(app, config)

    if app.config.get("PROXY_FIX_X_FOR"):
        # Behind N trusted proxies: client address and scheme come from X-Forwarded-*,
        # so sign-in throttling counts real clients, not the proxy.
        hops = int(app.config["PROXY_FIX_X_FOR"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]

    from booking.core.web import BoundedIntConverter

    # Before any route is added: <int:...> in every URL is a 32-bit id.
    app.url_map.converters["int"] = BoundedIntConverter

    _import_models()
    _init_extensions(app)
    _register_blueprints(app)
    _register_cli(app)

    import vouchers
    from booking.core import web
    from booking.notifications import handlers
    from booking.scheduler import maybe_start_in_process

    web.init_app(app)
    handlers.init_app(app)
    vouchers.init_app(app)
    # Only when SCHEDULER_IN_PROCESS (make run): one scheduler under the same leader lock.
    maybe_start_in_process(app)
    return app


def _load_environment(app: Flask) -> None:
    if url := os.environ.get("DATABASE_URL"):
        # Heroku-style URLs say postgres://; SQLAlchemy wants a driver name.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgres://")
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        app.config["SQLALCHEMY_DATABASE_URI"] = url
    if secret := os.environ.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = secret
    app.config.from_prefixed_env("BOOKING")


def _refuse_insecure_production(app: Flask, config: type[Config]) -> None:
    if config.__name__ != "ProductionConfig":
        return
    missing = [key for key in ("SECRET_KEY", "SQLALCHEMY_DATABASE_URI") if not app.config.get(key)]
    if missing:
        raise RuntimeError(
            "production configuration refuses to start without "
            + ", ".join("DATABASE_URL" if k.startswith("SQLALCHEMY") else k for k in missing)
        )


def _import_models() -> None:
    """Every model module, so the metadata (and Alembic) sees every table."""
    import booking.accounts.models
    import booking.audit.models
    import booking.notifications.models
    import booking.orders.models  # noqa: F401
    import instruments.models  # noqa: F401
    import vouchers.models  # noqa: F401


def _init_extensions(app: Flask) -> None:
    from booking.extensions import babel, csrf, db, limiter, login_manager, migrate
    from booking.i18n import select_locale, select_timezone

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # JSON columns keep Chinese as UTF-8 rather than \u escapes (a third the size).
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        options.setdefault("json_serializer", partial(json.dumps, ensure_ascii=False))
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    db.init_app(app)
    migrate.init_app(
        app, db, directory=str(BASE_DIR / "migrations"), compare_type=True, render_as_batch=True
    )
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)
    limiter.init_app(app)
    login_manager.init_app(app)

    from booking.accounts import loader

    loader.init_login_manager(login_manager)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        from booking.db import configure_sqlite

        with app.app_context():
            configure_sqlite(db.engine)


def _register_blueprints(app: Flask) -> None:
    from booking.accounts.admin_views import bp as admin_bp
    from booking.accounts.views import bp as accounts_bp
    from booking.core.views import bp as core_bp
    from booking.orders.admin_views import bp as orders_admin_bp
    from booking.orders.provider_service_views import bp as provider_service_orders_bp
    from booking.orders.provider_views import bp as provider_orders_bp
    from booking.orders.views import bp as orders_bp
    from instruments.provider_views import bp as provider_catalogue_bp
    from instruments.views import bp as instruments_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(instruments_bp)
    app.register_blueprint(provider_catalogue_bp)
    app.register_blueprint(orders_bp)
    app.register_blueprint(provider_service_orders_bp)
    app.register_blueprint(provider_orders_bp)
    app.register_blueprint(orders_admin_bp)


def _register_cli(app: Flask) -> None:
    from booking.cli import register

    register(app)
