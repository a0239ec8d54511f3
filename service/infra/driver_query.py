"""Hot statements on the driver's own cursor: SQLAlchemy's SQL, without its execution path."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError


class DriverQuery:
    """A Core SELECT compiled once per dialect and run on the driver's own cursor.

    For the few statements that run on every request (the API-key lookup, a candidate's inputs,
    a ranking page). SQLAlchemy's execution path (cache key, execution context, result metadata
    built from ``cursor.description``) costs more CPU than the round trip itself: measured
    150 µs a key lookup through ``Connection.execute`` against 75 µs on the cursor. The SQL is
    SQLAlchemy's own compilation for the connection's dialect, with the columns' bind and result
    processors applied, so the rows are the plain tuples ``Connection.execute`` would give.

    A driver error is wrapped as SQLAlchemy wraps it (``DBAPIError.instance``, parameters
    hidden). A lost connection is handed to SQLAlchemy by running the statement again through
    ``Connection.execute``: it invalidates the connection and the older ones in its pool and
    raises with ``connection_invalidated``, which the key lookup's retry relies on.
    """

    def __init__(self, statement: Select[Any]) -> None:
        self.statement = statement
        self._compiled: dict[str, _CompiledQuery] = {}

    def rows(self, connection: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Every row of the statement for ``params``, as tuples."""
        dialect = connection.dialect
        compiled = self._compiled.get(dialect.name)
        if compiled is None:
            compiled = self._compiled[dialect.name] = _CompiledQuery(self.statement, dialect)
        dbapi_connection: Any = connection.connection.dbapi_connection
        # psycopg's binary protocol: UUIDs and timestamps travel as bytes, not text to parse.
        cursor = (
            dbapi_connection.cursor(binary=True) if compiled.binary else dbapi_connection.cursor()
        )
        try:
            cursor.execute(compiled.sql, compiled.parameters(params))
            rows = cursor.fetchall()
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, cursor):
                return [tuple(row) for row in connection.execute(self.statement, params)]
            raise DBAPIError.instance(
                compiled.sql, None, error, dialect.loaded_dbapi.Error, hide_parameters=True
            ) from error
        finally:
            cursor.close()
        return compiled.processed(rows)


class _CompiledQuery:
    """A statement's SQL for one dialect, with how to bind its parameters and load its rows."""

    def __init__(self, statement: Select[Any], dialect: Any) -> None:
        compiled = statement.compile(dialect=dialect)
        self.sql = compiled.string
        self.binary = dialect.driver == "psycopg"
        self._compiled = compiled
        # Positional drivers (sqlite3) take a sequence in this order; named ones a dict.
        self._order = list(compiled.positiontup or []) if dialect.positional else None
        self._binders = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type.dialect_impl(dialect).bind_processor(dialect)) is not None
        }
        self._loaders = [
            (index, processor)
            for index, column in enumerate(statement.selected_columns)
            if (processor := column.type.dialect_impl(dialect).result_processor(dialect, None))
            is not None
        ]

    def parameters(self, params: dict[str, Any]) -> Any:
        values = self._compiled.construct_params(params)
        for name, processor in self._binders.items():
            if name in values:
                values[name] = processor(values[name])
        return values if self._order is None else [values[name] for name in self._order]

    def processed(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        if not self._loaders:
            return rows
        loaded = []
        for row in rows:
            values = list(row)
            for index, processor in self._loaders:
                values[index] = processor(values[index])
            loaded.append(tuple(values))
        return loaded
