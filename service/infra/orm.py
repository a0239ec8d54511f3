"""The declarative ``Base`` of every model, its naming convention, and column types.

Knows SQLAlchemy and nothing of Flask or the domain, so that models, migrations and scripts can
import it anywhere.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, ColumnElement, DateTime, Index, MetaData, cast, extract, func
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base of every model; constraints get predictable names."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use utcnow()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is UTC:  # PostgreSQL sessions run in UTC: as is
            return value
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, in UTC, to the microsecond."""
    return datetime.now(UTC)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def whole_seconds(value: datetime) -> int:
    """Whole seconds from the epoch to ``value`` (rounded down), as :func:`epoch_seconds`."""
    return (value - EPOCH) // timedelta(seconds=1)


def epoch_seconds(column: Any, dialect: str) -> ColumnElement[int]:
    """Whole seconds from the epoch to a :class:`UTCDateTime` column (rounded down), in SQL:
    integers, so that differences and buckets are exact on every backend."""
    if dialect == "sqlite":
        # Naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'. Without the fraction: strftime('%s')
        # would round it to milliseconds first, and .9995 s would count as the next second.
        return cast(func.strftime("%s", func.substr(column, 1, 19)), BigInteger)
    return cast(func.floor(extract("epoch", column)), BigInteger)


def trigram_index(name: str, column: Any) -> Index:
    """A PostgreSQL trigram GIN index on ``lower(column)``, for ``lower(column) LIKE '%x%'``
    (the ``q`` searches); not created on SQLite, which scans.

    At 100,000 candidates a ``q`` search by name went from a sequential scan (about 50 ms at a
    million, issue 15) to a bitmap scan of this index; the figures are in the README.
    """
    label = f"lower_{column.key}"
    return Index(
        name,
        func.lower(column).label(label),
        postgresql_using="gin",
        postgresql_ops={label: "gin_trgm_ops"},
    ).ddl_if(dialect="postgresql")
