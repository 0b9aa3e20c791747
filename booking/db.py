"""Database helpers that depend on the dialect."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session


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
        # "IMMEDIATE" when the use case asked for it (see serialize_writes).
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


PostgresOnly = {"postgresql_only": True}

# Primary keys are 32-bit integers. URL ids are bounded by the `int` converter
# (booking.core.web); ids read from query strings or form fields use this.
MAX_ID = 2**31 - 1


def include_object_for(dialect: str) -> Callable[..., bool]:
    """Alembic `include_object` hook: objects marked ``info=PostgresOnly``
    exist only on PostgreSQL (GIN indexes on token arrays, exclusion
    constraints); elsewhere they are neither created nor compared."""

    def include_object(
        obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
    ) -> bool:
        info = getattr(obj, "info", None) or {}
        return not (info.get("postgresql_only") and dialect != "postgresql")

    return include_object


def serialize_writes(scoped: Any) -> None:
    """Make the rest of this transaction the only writer on SQLite.

    SQLite allows one writer; a transaction that read first and writes later
    may fail instead of waiting. Use cases that check-then-insert (bookings,
    capacity) call this before their checks, so on SQLite the transaction
    starts with BEGIN IMMEDIATE and concurrent writers queue on busy_timeout.
    A transaction that has only read so far is restarted (loaded objects
    reload on access); one that has already written holds SQLite's write
    lock and simply goes on. On PostgreSQL it does nothing; those use cases
    lock rows instead.
    """
    session: Session = scoped() if callable(scoped) else scoped
    if session.get_bind().dialect.name != "sqlite":
        return
    if session.in_transaction():
        if session.new or session.dirty or session.deleted:
            session.flush()  # pending changes are kept: writing takes the lock
        if session.info.get(_WROTE):
            return
        options = session.connection().get_execution_options()
        if options.get("sqlite_begin") == "IMMEDIATE":
            return
        session.rollback()
    session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


_WROTE = "wrote_in_transaction"
# Orders re-read under a row lock in the current transaction (see
# booking.orders.services.lock_for_transition); forgotten when it ends.
LOCKED_IN_TRANSACTION = "locked_in_transaction"


@event.listens_for(Session, "after_flush")
def _mark_written(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _mark_statement_writes(state: Any) -> None:
    # INSERT/UPDATE/DELETE sent through session.execute() (the ledger's
    # conditional UPDATEs, bulk demo inserts) write without a flush; they too
    # hold SQLite's write lock, and rolling back here would silently lose them.
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_end")
def _clear_written(session: Session, transaction: Any) -> None:
    # Savepoints end inside the outer transaction; only the root ends the lock.
    if transaction.parent is None:
        session.info.pop(_WROTE, None)
        session.info.pop(LOCKED_IN_TRANSACTION, None)
