"""Configuration classes.

`create_app` picks one by name (``BOOKING_ENV``: development, testing,
production), then lets the environment override it: ``DATABASE_URL`` and
``SECRET_KEY`` by their conventional names, anything else as
``BOOKING_<KEY>`` (Flask's ``from_prefixed_env``; values are parsed as JSON
where they can be, so ``BOOKING_SESSION_HOURS=8`` is an int).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

BASE_DIR = Path(__file__).resolve().parent


class Config:
    """Settings shared by every environment; safe defaults only."""

    SECRET_KEY: str | None = None
    SQLALCHEMY_DATABASE_URI: str | None = None
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, object]] = {"pool_pre_ping": True}
    SQLALCHEMY_TRACK_MODIFICATIONS = False

    # Sessions expire: a signed-in user idle for this long must sign in again.
    PERMANENT_SESSION_LIFETIME = timedelta(hours=8)
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = timedelta(days=7)
    REMEMBER_COOKIE_HTTPONLY = True

    WTF_CSRF_TIME_LIMIT = 8 * 3600

    BABEL_DEFAULT_LOCALE = "zh_Hans"
    BABEL_DEFAULT_TIMEZONE = "Asia/Shanghai"
    BABEL_TRANSLATION_DIRECTORIES = str(BASE_DIR / "translations")
    LANGUAGES = ("zh_Hans", "en")

    # Flask-Limiter: memory per process by default; set a Redis URI in production
    # (BOOKING_RATELIMIT_STORAGE_URI=redis://...) so every worker shares counts.
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_HEADERS_ENABLED = True
    # Sign-in throttling, per client address and per account name.
    LOGIN_RATE_LIMIT = "10 per minute; 50 per hour"
    REGISTRATION_RATE_LIMIT = "10 per hour"
    # Number of trusted reverse proxies in front of the app (0: none). With a
    # proxy, set it so client addresses come from X-Forwarded-For.
    PROXY_FIX_X_FOR = 0

    UPLOAD_DIR = str(BASE_DIR / "instance" / "uploads")
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024
    IMPORT_MAX_BYTES = 5 * 1024 * 1024
    # An import is validated and written inside one web request; keep it well
    # inside a worker timeout (≈10 s per 1,000 new instruments on a busy host).
    IMPORT_MAX_ROWS = 2000

    CATALOGUE_PAGE_SIZE = 20
    CATALOGUE_MAX_PAGE = 10_000
    SEARCH_MAX_LENGTH = 64
    # Above this many public instruments, result counts stop at the cap and
    # show "500+": an exact count of a common term would read every match.
    CATALOGUE_EXACT_COUNT_UP_TO = 10_000
    CATALOGUE_COUNT_CAP = 500

    # Order engine defaults that are platform rules rather than instrument policy.
    ORDER_APPROVAL_WINDOW_HOURS = 48  # a request not approved by then expires
    ORDER_CONFIRM_WINDOW_DAYS = 7  # the firm confirms delivered service within this
    NO_SHOW_GRACE_MINUTES = 30  # not checked in this long after the start: no-show

    # E-mail copies of notifications: sent only when MAIL_SERVER is set.
    MAIL_SERVER: str | None = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: str | None = None
    MAIL_SENDER = "noreply@yrd-sharing.example"
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"  # links in e-mails

    # The scheduler runs in its own process (`flask --app booking scheduler run`);
    # `make run` sets this to start it in-process for the demo.
    SCHEDULER_IN_PROCESS = False


class DevelopmentConfig(Config):
    """`make run`: embedded SQLite under instance/, a fixed dev secret."""

    SECRET_KEY = "dev-only-secret-change-me"  # noqa: S105 - development only
    SQLALCHEMY_DATABASE_URI = "sqlite:///" + str(BASE_DIR / "instance" / "booking.db")


class TestingConfig(Config):
    """pytest: the database URL comes from the test harness."""

    TESTING = True
    SECRET_KEY = "testing-secret"  # noqa: S105 - tests only
    SQLALCHEMY_DATABASE_URI = os.environ.get("TEST_DATABASE_URL") or "sqlite://"
    WTF_CSRF_ENABLED = False
    LOGIN_RATE_LIMIT = "1000 per minute"
    REGISTRATION_RATE_LIMIT = "1000 per minute"
    SERVER_NAME = None


class ProductionConfig(Config):
    """Production: refuses to start without SECRET_KEY and DATABASE_URL."""

    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"


CONFIGS: dict[str, type[Config]] = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
