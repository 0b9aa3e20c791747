"""Test harness.

The database comes from TEST_DATABASE_URL (the Makefile points it at a fresh
PostgreSQL database for the second run); without it, a SQLite file in a
temporary folder. The schema is built by the Alembic migrations, as in
production. Each test starts from empty tables.

Factories are fixtures that return callables: `make_org(kind="provider")`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, g, request_started
from flask.testing import FlaskClient
from flask_login import login_user
from flask_migrate import upgrade
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from booking import create_app
from booking.accounts import models as account_models
from booking.accounts import uscc
from booking.accounts.models import Organization, OrgKind, Region, User, UserRole
from booking.extensions import db, limiter
from instruments import services as catalogue
from instruments.models import Instrument, ServiceItem

PASSWORD = "Correct-Horse-9"
_serial = itertools.count(1)


def database_url(tmp_dir: Path) -> str:
    return os.environ.get("TEST_DATABASE_URL") or f"sqlite:///{tmp_dir / 'test.db'}"


def pytest_report_header(config: pytest.Config) -> str:
    url = os.environ.get("TEST_DATABASE_URL", "sqlite (temporary file)")
    return f"database: {url.split('@')[-1]}"


@pytest.fixture(scope="session")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    tmp = tmp_path_factory.mktemp("app")
    app = create_app(
        "testing",
        SQLALCHEMY_DATABASE_URI=database_url(tmp),
        UPLOAD_DIR=str(tmp / "uploads"),
        # Race tests run 32 concurrent clients, each with its own connection.
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True, "pool_size": 40, "max_overflow": 10},
    )
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def dialect(app: Flask) -> str:
    with app.app_context():
        return db.engine.dialect.name


@pytest.fixture
def postgres(dialect: str) -> None:
    """Use in tests that need PostgreSQL (races, exclusion constraints)."""
    if dialect != "postgresql":
        pytest.skip("needs PostgreSQL (set TEST_DATABASE_URL; `make test` does)")


@pytest.fixture(autouse=True)
def _app_context(app: Flask) -> Iterator[None]:
    """Every test runs in an app context over empty tables."""
    with app.app_context():
        yield
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
            if conn.dialect.name == "sqlite":
                conn.execute(text("DELETE FROM sqlite_sequence")) if _has_sequence(conn) else None
        limiter.reset()


def _has_sequence(conn: Any) -> bool:
    return bool(
        conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'")).first()
    )


@pytest.fixture(autouse=True)
def _fresh_user_per_request(app: Flask) -> Iterator[None]:
    """The test's app context is reused by the test client's requests, so
    flask-login's cached `g._login_user` and Flask-Babel's cached locale would
    leak from one request (or from `login_as`) into the next. Each request
    must find its user and language from its own cookie, as in production."""

    def forget(sender: Flask, **extra: Any) -> None:
        g.pop("_login_user", None)
        g.pop("_flask_babel", None)  # the locale, too, is chosen per request
        g.pop("badge_counts", None)

    request_started.connect(forget, app)
    yield
    request_started.disconnect(forget, app)


@pytest.fixture(autouse=True)
def _cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production scrypt (n=2**15) costs ~0.2 s per hash and tests create many
    users. Same algorithm, smaller work factor; checking reads the parameters
    from the stored hash, so nothing else changes."""

    def cheap(password: str, method: str = "scrypt", salt_length: int = 16) -> str:
        return generate_password_hash(password, method="scrypt:1024:8:1")

    monkeypatch.setattr(account_models, "generate_password_hash", cheap)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


# --- factories ---------------------------------------------------------------


@pytest.fixture
def make_region() -> Callable[..., Region]:
    def make(code: str | None = None, **overrides: Any) -> Region:
        n = next(_serial)
        code = code or f"r{n}"
        region = Region(
            code=code,
            name_zh=overrides.pop("name_zh", f"区域{n}"),
            name_en=overrides.pop("name_en", f"Region {n}"),
            division_code=overrides.pop("division_code", "310114"),
            **overrides,
        )
        db.session.add(region)
        db.session.flush()
        return region

    return make


@pytest.fixture
def make_org(make_region: Callable[..., Region]) -> Callable[..., Organization]:
    def make(
        kind: str = OrgKind.ENTERPRISE, region: Region | None = None, **overrides: Any
    ) -> Organization:
        n = next(_serial)
        region = region or make_region()
        org = Organization(
            kind=kind,
            name_zh=overrides.pop("name_zh", f"测试{kind}{n}"),
            name_en=overrides.pop("name_en", f"Test {kind} {n}"),
            uscc=overrides.pop("uscc", uscc.make(region.division_code, 500000 + n)),
            region=region,
            status=overrides.pop("status", "verified"),
            **overrides,
        )
        if kind == OrgKind.PROVIDER:
            org.provider_type = org.provider_type or "university"
        if kind == OrgKind.ENTERPRISE:
            org.enterprise_category = org.enterprise_category or "tech_sme"
        db.session.add(org)
        db.session.flush()
        return org

    return make


@pytest.fixture
def make_user(make_org: Callable[..., Organization]) -> Callable[..., User]:
    def make(
        org: Organization | None = None,
        kind: str = OrgKind.ENTERPRISE,
        password: str = PASSWORD,
        **overrides: Any,
    ) -> User:
        n = next(_serial)
        org = org or make_org(kind=kind)
        user = User(
            organization=org,
            email=overrides.pop("email", f"user{n}@example.cn"),
            name=overrides.pop("name", f"用户{n}"),
            role=overrides.pop("role", UserRole.ADMIN),
            **overrides,
        )
        user.set_password(password)
        db.session.add(user)
        db.session.flush()
        return user

    return make


@pytest.fixture
def make_instrument(make_org: Callable[..., Organization]) -> Callable[..., Instrument]:
    def make(
        provider: Organization | None = None, prices: dict[str, int] | None = None, **overrides: Any
    ) -> Instrument:
        n = next(_serial)
        provider = provider or make_org(kind=OrgKind.PROVIDER)
        fields: dict[str, Any] = {
            "internal_no": f"YQ{n:05d}",
            "name_zh": f"液相色谱仪{n}",
            "name_en": f"Liquid chromatograph {n}",
            "classification_code": "010501",
            "model": "LC-20AD",
            "manufacturer": "岛津",
            "original_value_fen": 85_000_000,
            "location": "实验楼A201",
            "open_from": time(8, 30),
            "open_until": time(17, 30),
        }
        fields.update(overrides)
        instrument = catalogue.create_instrument(
            provider, fields, prices or {"entrusted": 20_000}, actor=None
        )
        db.session.flush()
        return instrument

    return make


@pytest.fixture
def make_service_item(make_org: Callable[..., Organization]) -> Callable[..., ServiceItem]:
    def make(provider: Organization | None = None, **overrides: Any) -> ServiceItem:
        n = next(_serial)
        provider = provider or make_org(kind=OrgKind.PROVIDER)
        fields: dict[str, Any] = {
            "code": f"FW{n:05d}",
            "name_zh": f"金属材料拉伸试验{n}",
            "name_en": f"Tensile test of metals {n}",
            "category": "materials",
            "method_standard": "GB/T 228.1-2021",
            "unit_price_fen": 30_000,
            "turnaround_days": 5,
            "weekly_capacity": 40,
        }
        fields.update(overrides)
        item = catalogue.create_service_item(provider, fields, actor=None)
        db.session.flush()
        return item

    return make


@pytest.fixture
def login_as(app: Flask, client: FlaskClient) -> Callable[[User], FlaskClient]:
    """Sign `user` in on the test client without going through the form
    (the sign-in form itself has its own tests)."""

    def login(user: User) -> FlaskClient:
        db.session.commit()
        # The same environment as the client's requests, so flask-login's
        # session identifier (address + user agent) matches under "strong".
        with (
            app.test_request_context(environ_base=client.environ_base),
            client.session_transaction() as sess,
        ):
            login_user(user)
            from flask import session

            sess.update(dict(session))
        return client

    return login
