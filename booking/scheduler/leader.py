"""Leader election: only the process holding the lock runs the scheduler.

PostgreSQL: a session-level advisory lock taken on a dedicated connection
(outside the pool) and held for as long as the process leads. When the
leader dies, the server closes its session and the lock frees; a standby
polling `pg_try_advisory_lock` takes over within one poll interval.
Advisory locks are per database, so deployments on one server do not clash.

SQLite: an exclusive `flock` on a lock file next to the database file; the
kernel drops it when the holder's process dies.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path
from typing import Protocol

from flask import Flask
from sqlalchemy import Connection, Engine, create_engine, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

log = logging.getLogger("booking.scheduler")

# "booking.scheduler" as a signed 64-bit key for pg_try_advisory_lock.
ADVISORY_LOCK_KEY = 0x626F6F6B696E6773


class LeaderLock(Protocol):
    def try_acquire(self) -> bool:
        """Take the lock if free; never blocks, never raises."""

    def still_held(self) -> bool:
        """False when the lock may have been lost (the leader must step down)."""

    def release(self) -> None: ...

    def describe(self) -> str: ...


class AdvisoryLock:
    """pg_try_advisory_lock on a connection of its own."""

    def __init__(self, url: URL | str, key: int = ADVISORY_LOCK_KEY) -> None:
        self.key = key
        self._engine: Engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            # Notice a dead server or network within about half a minute.
            connect_args={
                "connect_timeout": 5,
                "keepalives": 1,
                "keepalives_idle": 10,
                "keepalives_interval": 5,
                "keepalives_count": 3,
            },
        )
        self._conn: Connection | None = None
        self._held = False

    def try_acquire(self) -> bool:
        if self._held:
            return True
        try:
            if self._conn is None:
                self._conn = self._engine.connect()
            got = self._conn.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
            ).scalar()
        except Exception as error:  # the database may be down; try again later
            log.warning("scheduler: cannot reach the database for the leader lock: %s", error)
            self._close()
            return False
        self._held = bool(got)
        return self._held

    def still_held(self) -> bool:
        if not self._held or self._conn is None:
            return False
        try:
            # Our session alive means our session-level lock is too.
            self._conn.execute(text("SELECT 1"))
        except Exception as error:
            log.error("scheduler: lost the connection holding the leader lock: %s", error)
            self._held = False
            self._close()
            return False
        return True

    def release(self) -> None:
        if self._held and self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
            except Exception as error:  # closing the session frees it anyway
                log.warning("scheduler: could not unlock cleanly: %s", error)
        self._held = False
        self._close()

    def _close(self) -> None:
        if self._conn is not None:
            # A broken connection is being discarded; closing it may fail too.
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    def describe(self) -> str:
        return f"PostgreSQL advisory lock {self.key}"


class FileLock:
    """An exclusive, non-blocking flock on a file."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            log.warning("scheduler: cannot open lock file %s: %s", self.path, error)
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        # The holder's pid, for whoever wonders which process leads.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def still_held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def describe(self) -> str:
        return f"lock file {self.path}"


def lock_for(app: Flask) -> LeaderLock:
    """The leader lock that fits the app's database."""
    url = make_url(app.config["SQLALCHEMY_DATABASE_URI"])
    backend = url.get_backend_name()
    if backend == "postgresql":
        key = int(app.config.get("SCHEDULER_LOCK_KEY", ADVISORY_LOCK_KEY))
        return AdvisoryLock(url, key)
    if backend == "sqlite":
        database = url.database
        if database in (None, "", ":memory:") or str(database).startswith("file:"):
            # No file to sit next to: one lock per instance folder.
            return FileLock(Path(app.instance_path) / "scheduler.lock")
        return FileLock(Path(f"{database}.scheduler.lock"))
    raise RuntimeError(f"no scheduler leader lock for {backend} databases")
