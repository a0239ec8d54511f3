"""The feed never skips an event on PostgreSQL, whatever order concurrent writers commit in.

Writers emit an event, wait a random while, and commit; a reader meanwhile follows the feed
from the last seq it saw, as a client does. With seqs taken at insert time, a writer that took
a lower seq and committed later would be passed over for good; seqs given at commit time, under
one lock, increase in commit order, so the reader ends with every event, each once, in order.
"""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from service.domain import events
from service.infra.database import Database
from tests.conftest import POSTGRES_URL

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not POSTGRES_URL, reason="needs ROLEFIT_TEST_DATABASE_URL (PostgreSQL)"),
]

WRITERS = 8
EVENTS_EACH = 15


def _last_seq(database: Database) -> int:
    with database.session() as session:
        return events.cursor_value(session, "seq")


def test_a_reader_following_the_feed_misses_nothing(database: Database) -> None:
    written: list[str] = []
    lock = threading.Lock()
    done = threading.Event()

    def writer(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(EVENTS_EACH):
            with database.session() as session:
                subject = str(uuid.uuid4())
                events.emit(session, "candidate.created", ("candidate", subject), {})
                time.sleep(rnd.uniform(0, 0.01))  # hold the transaction open a little
                session.commit()
            with lock:
                written.append(subject)

    seen: list[tuple[int, str]] = []

    def reader() -> None:
        last = _last_seq(database)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            finished = done.is_set()
            with database.session() as session:
                page = events.feed(session, limit=100, after_seq=last)
                for event in page:
                    seen.append((event.seq or 0, event.subject_id))
                    last = event.seq or last
            if finished and not page:
                return
            time.sleep(0.002)

    start_seq = _last_seq(database)
    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(WRITERS)]
    follower = threading.Thread(target=reader)
    follower.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    done.set()
    follower.join(timeout=60)

    assert len(written) == WRITERS * EVENTS_EACH
    assert sorted(s for _, s in seen) == sorted(written)  # every one, once
    seqs = [seq for seq, _ in seen]
    assert seqs == sorted(seqs)
    assert seqs == list(range(start_seq + 1, start_seq + 1 + len(written)))  # no gap
