"""Counter tables: add deltas to the counters of many keys, and set rows by key.

Each upsert of rows is one statement built once per (dialect, table, columns) and executed
with the rows as parameter sets (the driver's ``executemany``; psycopg pipelines it). It used
to be a multi-row ``INSERT ... VALUES`` built for its rows on each call, which SQLAlchemy cannot
cache ("no key"): built and compiled anew, 0.67-0.90 ms a call for one or two rows against
0.22-0.42 ms now, in process on PostgreSQL. An application's move makes four such calls (its
job's stamp and three counter tables): they were 28 % of its time (py-spy).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def add_to_counts(
    session: Session,
    table: sa.Table,
    key_columns: Sequence[str],
    deltas: Mapping[tuple[Any, ...], int],
    *,
    count_column: str = "n",
) -> None:
    """Add each delta to the counter of its key, creating the rows that are missing.

    One ``INSERT ... ON CONFLICT DO UPDATE`` (PostgreSQL and SQLite 3.24+) executed for each
    key. The keys go in sorted order, so concurrent transactions lock the
    rows they share in the same order and never deadlock on them; zero deltas are left out.
    """
    rows = [
        {**dict(zip(key_columns, key, strict=True)), count_column: delta}
        for key, delta in sorted(deltas.items())
        if delta
    ]
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    session.execute(_adding(dialect, table, tuple(key_columns), count_column), rows)


def set_values(
    session: Session, table: sa.Table, key_columns: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    """Write ``rows`` (every column of the table), replacing the other columns of the keys that
    exist: one ``INSERT ... ON CONFLICT DO UPDATE`` executed for each row, in key order (as
    :func:`add_to_counts`, so that concurrent writers lock shared rows in the same order)."""
    if not rows:
        return
    ordered = sorted(rows, key=lambda row: tuple(row[k] for k in key_columns))
    dialect = session.get_bind().dialect.name
    session.execute(_replacing(dialect, table, tuple(key_columns), tuple(ordered[0])), ordered)


def _insert(dialect: str, table: sa.Table) -> Any:
    """The dialect's ``INSERT`` (both have ``ON CONFLICT``)."""
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table)


@functools.cache
def _adding(dialect: str, table: sa.Table, key_columns: tuple[str, ...], count_column: str) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE SET n = n + excluded.n``, built once."""
    insert = _insert(dialect, table)
    return insert.on_conflict_do_update(
        index_elements=list(key_columns),
        set_={count_column: table.c[count_column] + insert.excluded[count_column]},
    )


@functools.cache
def _replacing(
    dialect: str, table: sa.Table, key_columns: tuple[str, ...], columns: tuple[str, ...]
) -> Any:
    """``INSERT ... ON CONFLICT (keys) DO UPDATE`` of ``columns`` but the keys, built once."""
    insert = _insert(dialect, table)
    replaced = {name: insert.excluded[name] for name in columns if name not in key_columns}
    return insert.on_conflict_do_update(index_elements=list(key_columns), set_=replaced)


def add_selected_counts(
    session: Session,
    table: sa.Table,
    key_columns: Sequence[str],
    count_columns: Sequence[str],
    deltas: sa.Select[Any],
) -> None:
    """Add the deltas a query selects (its columns: the keys, then one delta per counter, each
    key at most once) to the counters of their keys, creating the rows that are missing.

    One ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``, computed and applied in the database
    whatever the number of keys or of the rows the deltas were grouped from (a rescoring of a
    million candidates adds at most its 10,001 score buckets). The query should order its rows
    by key, so that concurrent transactions lock the rows they share in the same order.
    """
    dialect = session.get_bind().dialect.name
    insert = _insert(dialect, table).from_select([*key_columns, *count_columns], deltas)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=list(key_columns),
            set_={name: table.c[name] + insert.excluded[name] for name in count_columns},
        )
    )
