"""A per-process cache of values built for one state token of one database.

The catalog (taxonomy and current role profiles) is read by almost every request and changes
rarely; rebuilding it costs three queries. Entries are keyed by (database, token): a token
names one state of the database and is never reused, so an entry never goes stale, it only
stops being asked for. The cache keeps a handful of entries and starts over when full.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")


class TokenCache(Generic[T]):
    """At most ``limit`` values, each for one (database key, state token)."""

    def __init__(self, limit: int = 8) -> None:
        self.limit = limit
        self._entries: dict[tuple[str, str], T] = {}

    def get(self, database_key: str, token: str | None) -> T | None:
        return self._entries.get((database_key, token)) if token is not None else None

    def put(self, database_key: str, token: str, value: T) -> None:
        if len(self._entries) >= self.limit:
            self._entries.clear()
        self._entries[(database_key, token)] = value
