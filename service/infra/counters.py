"""Counter tables: add deltas to the counters of many keys in one statement."""

from __future__ import annotations

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

    One multi-row ``INSERT ... ON CONFLICT DO UPDATE`` (PostgreSQL and SQLite 3.24+) whatever
    the number of keys. The keys go in sorted order, so concurrent transactions lock the rows
    they share in the same order and never deadlock on them; zero deltas are left out.
    """
    rows = [
        {**dict(zip(key_columns, key, strict=True)), count_column: delta}
        for key, delta in sorted(deltas.items())
        if delta
    ]
    if not rows:
        return
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = module.insert(table).values(rows)
    counter = table.c[count_column]
    session.execute(
        insert.on_conflict_do_update(
            index_elements=list(key_columns),
            set_={count_column: counter + insert.excluded[count_column]},
        )
    )


def set_values(
    session: Session, table: sa.Table, key_columns: Sequence[str], rows: list[dict[str, Any]]
) -> None:
    """Write ``rows`` (every column of the table), replacing the other columns of the keys that
    exist: one multi-row ``INSERT ... ON CONFLICT DO UPDATE``, the keys in sorted order (as
    :func:`add_to_counts`, so that concurrent writers lock shared rows in the same order)."""
    if not rows:
        return
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    ordered = sorted(rows, key=lambda row: tuple(row[k] for k in key_columns))
    insert = module.insert(table).values(ordered)
    replaced = {name: insert.excluded[name] for name in ordered[0] if name not in key_columns}
    session.execute(insert.on_conflict_do_update(index_elements=list(key_columns), set_=replaced))


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
    module: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    insert = module.insert(table).from_select([*key_columns, *count_columns], deltas)
    session.execute(
        insert.on_conflict_do_update(
            index_elements=list(key_columns),
            set_={name: table.c[name] + insert.excluded[name] for name in count_columns},
        )
    )
