"""Flask extensions, created unbound here and bound in `create_app`.

Also the declarative base every model derives from: a constraint naming
convention (stable names for Alembic) and the column types the whole
project shares (`UTCDateTime`, `Money`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import BigInteger, DateTime, Dialect, MetaData
from sqlalchemy.orm import DeclarativeBase, registry
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in, timezone-aware UTC out, on every database.

    PostgreSQL stores ``timestamptz``; SQLite has no zone and hands back naive
    values, so they are stored as UTC and re-tagged on the way out. Naive
    datetimes are refused: they are always a bug here.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Money is integer fen (分) everywhere; BigInteger leaves room for budgets.
Money = BigInteger


def utcnow() -> datetime:
    """The current time, aware UTC. Services take `now` as an argument; this is
    only the default used at the edges (requests, CLI, column defaults)."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    # Flask-SQLAlchemy subclasses the base, so the type map sits on the registry.
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime},
    )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])

# `class X(db.Model)` is invisible to mypy; models derive from `Model` instead,
# which is db.Model at run time and the typed declarative base for the checker.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
