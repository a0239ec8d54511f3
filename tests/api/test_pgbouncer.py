"""rolefit behind PgBouncer in transaction mode, the key cache's listener on a direct URL.

Starts Debian's ``pgbouncer`` (:func:`bench.common.pgbouncer`: unprivileged, on a free port,
``pool_mode = transaction``) in front of the test database and serves requests through it: a
candidate created, its matches and the ranking read more times than psycopg's prepare threshold
from two threads (prepared statements must stay off through a pooler that cannot follow them),
and a key revoked by another process refused promptly, the notification reaching the listener on
the direct URL.

Skipped when ``pgbouncer`` is not installed, unless ``ROLEFIT_REQUIRE_PGBOUNCER=1`` (CI).
To run a part of the suite through it: start PgBouncer as below and set
``ROLEFIT_TEST_DATABASE_URL`` to it and ``ROLEFIT_TEST_DATABASE_DIRECT_URL`` to the database.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bench.common import PGBOUNCER, pgbouncer
from service import create_app
from service.domain.apikeys import token_hash
from service.infra.database import Database
from tests.conftest import POOLED, POSTGRES_URL, bearer, make_config

REQUIRED = os.environ.get("ROLEFIT_REQUIRE_PGBOUNCER") == "1"

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="needs PostgreSQL"),
    pytest.mark.skipif(POOLED, reason="the suite already runs through a pooler"),
    pytest.mark.skipif(
        PGBOUNCER is None and not REQUIRED,
        reason="pgbouncer is not installed (apt-get install pgbouncer; "
        "ROLEFIT_REQUIRE_PGBOUNCER=1 makes this a failure)",
    ),
]


def test_the_service_works_through_pgbouncer_in_transaction_mode(
    database: Database, database_url: str, make_key: Callable[[str], str]
) -> None:
    with pgbouncer(database_url) as pooled_url:
        app = create_app(
            make_config(
                pooled_url, database_direct_url=database_url, database_transaction_pooler=True
            )
        )
        client = app.test_client()
        token = make_key("admin")
        headers = bearer(token)
        body = {"name": "Pooled", "competencies": [{"competency": "technical-depth", "level": 4}]}
        created = client.post("/v1/candidates", json=body, headers=headers)
        assert created.status_code == 201, created.data
        matches = f"/v1/candidates/{created.get_json()['id']}/matches"

        def reads(_: int) -> list[int]:
            own = app.test_client()
            return [
                own.get(url, headers=headers).status_code
                for _ in range(12)  # beyond psycopg's prepare threshold (5) on each connection
                for url in (matches, "/v1/roles/tpm/matches?limit=5", "/v1/roles")
            ]

        with ThreadPoolExecutor(2) as pool:
            statuses = [s for batch in pool.map(reads, range(2)) for s in batch]
        assert set(statuses) == {200}

        cache = app.extensions["rolefit.key_cache"]
        deadline = time.monotonic() + 5
        while cache.get(token_hash(token)) is None:  # the listener connected (direct URL)
            assert time.monotonic() < deadline, "the key cache never answered"
            assert client.get("/v1/roles", headers=headers).status_code == 200
            time.sleep(0.01)
        env = dict(
            os.environ,
            ROLEFIT_DATABASE_URL=pooled_url,
            ROLEFIT_DATABASE_DIRECT_URL=database_url,
            ROLEFIT_DATABASE_TRANSACTION_POOLER="1",
            ROLEFIT_LOG_LEVEL="WARNING",
        )
        rolefit = str(Path(sys.executable).parent / "rolefit")
        key_id = "key_" + token.split("_")[1]
        revoke = [rolefit, "keys", "revoke", key_id]
        subprocess.run(revoke, env=env, check=True, timeout=60)  # noqa: S603 (our own CLI)
        started = time.monotonic()
        while client.get("/v1/roles", headers=headers).status_code != 401:
            assert time.monotonic() - started < 0.1, "the revoked key was not refused in 100 ms"
            time.sleep(0.002)
        app.extensions["rolefit.db"].dispose()
