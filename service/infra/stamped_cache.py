"""A per-process cache of values that are valid for one stamp of their source.

For reads that dashboards repeat far more often than the data changes (a job's funnel): the
source keeps a stamp that every change replaces, in the change's own transaction; a reader
reads the stamp (one small indexed row), and only on a new stamp the value itself. Workers
share nothing, so each keeps its own entries; none can be stale, only unused.

Measured (bench.pipeline, a job of 10,000 applications, 16 clients, 2 workers): the funnel
from its counts took five statements and about 10 ms of a worker per request, 197 req/s and
108 ms at p99; checking the stamp instead, see the README's pipeline figures.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class StampedCache(Generic[V]):
    """At most ``size`` values by key, least recently used dropped first, each kept with the
    stamp it was read at and given back only for that stamp."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[Hashable, tuple[Hashable, V]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, stamp: Hashable | None) -> V | None:
        """The value kept for ``key`` at ``stamp``; None when there is none (or no stamp)."""
        if stamp is None:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] != stamp:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: Hashable, stamp: Hashable | None, value: V) -> None:
        """Keep ``value`` for ``key`` at ``stamp`` (nothing is kept without a stamp)."""
        if stamp is None:
            return
        with self._lock:
            self._entries[key] = (stamp, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
