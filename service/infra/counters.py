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
