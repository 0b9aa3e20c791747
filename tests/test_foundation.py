"""The application skeleton: config, health check, migrations, language."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask.testing import FlaskClient

from booking import create_app
from booking.db import include_object_for
from booking.extensions import db


def test_models_and_migrations_agree() -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"compare_type": True, "include_object": include_object_for(conn.dialect.name)},
        )
        diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_healthz_reports_database(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "database": True}


def test_production_refuses_to_start_without_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app("production")
    monkeypatch.setenv("SECRET_KEY", "x" * 32)
    with pytest.raises(RuntimeError, match="DATABASE_URL"):
        create_app("production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
    app = create_app("production")
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@h/db"
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_environment_overrides_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKING_CATALOGUE_PAGE_SIZE", "50")
    app = create_app("testing")
    assert app.config["CATALOGUE_PAGE_SIZE"] == 50


def test_unknown_environment_name_is_refused() -> None:
    with pytest.raises(RuntimeError, match="unknown BOOKING_ENV"):
        create_app("staging-typo")


def test_home_is_chinese_by_default_and_english_on_request(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "成员单位" in page
    switched = client.get("/locale/en?next=/", follow_redirects=True).get_data(as_text=True)
    assert "Member institutions" in switched


def test_locale_switch_ignores_offsite_next(client: FlaskClient) -> None:
    response = client.get("/locale/en?next=https://evil.example/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_unknown_page_is_404_in_the_users_language(client: FlaskClient) -> None:
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)
