"""Database helpers that depend on the dialect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event


def configure_sqlite(engine: Engine) -> None:
    """Foreign keys on, WAL for concurrent readers, and transactions that
    SQLAlchemy controls (the pysqlite driver's own BEGIN handling is off, so
    `BEGIN IMMEDIATE` can be issued where a write must be serialised)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN")


PostgresOnly = {"postgresql_only": True}


def include_object_for(dialect: str) -> Callable[..., bool]:
    """Alembic `include_object` hook: objects marked ``info=PostgresOnly``
    exist only on PostgreSQL (GIN indexes on token arrays, exclusion
    constraints); elsewhere they are neither created nor compared."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                       compare_to: Any) -> bool:
        info = getattr(obj, "info", None) or {}
        return not (info.get("postgresql_only") and dialect != "postgresql")

    return include_object
