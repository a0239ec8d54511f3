"""rolefit behind PgBouncer in transaction mode, the key cache's listener on a direct URL.

Starts Debian's ``pgbouncer`` (unprivileged, on a free port, ``pool_mode = transaction``) in
front of the test database and serves requests through it: a candidate created, its matches and
the ranking read more times than psycopg's prepare threshold from two threads (prepared
statements must stay off through a pooler that cannot follow them), and a key revoked by
another process refused promptly, the notification reaching the listener on the direct URL.

Skipped when ``pgbouncer`` is not installed, unless ``ROLEFIT_REQUIRE_PGBOUNCER=1`` (CI).
To run a part of the suite through it: start PgBouncer as below and set
``ROLEFIT_TEST_DATABASE_URL`` to it and ``ROLEFIT_TEST_DATABASE_DIRECT_URL`` to the database.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from service import create_app
from service.domain.apikeys import token_hash
from service.infra.database import Database
from tests.conftest import POOLED, POSTGRES_URL, bearer, make_config

PGBOUNCER = shutil.which("pgbouncer") or (
    "/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None
)
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


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def pgbouncer(upstream_url: str) -> Iterator[str]:
    """PgBouncer in transaction mode in front of ``upstream_url``; yields its SQLAlchemy URL."""
    assert PGBOUNCER is not None, "pgbouncer is required (ROLEFIT_REQUIRE_PGBOUNCER=1)"
    upstream = make_url(upstream_url)
    folder = Path(tempfile.mkdtemp(prefix="rolefit-pgbouncer-"))
    user = None
    if os.geteuid() == 0:  # PgBouncer refuses to run as root: as nobody, in a folder of its own
        user = "nobody"
        os.chown(folder, pwd.getpwnam(user).pw_uid, -1)
    port = _free_port()
    (folder / "userlist.txt").write_text(f'"{upstream.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={upstream.host} port={upstream.port or 5432}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {folder / 'userlist.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 4\nmax_client_conn = 100\n"
        f"logfile = {folder / 'pgbouncer.log'}\n"
    )
    output = tempfile.TemporaryFile()  # noqa: SIM115 (closed in the finally below)
    process = subprocess.Popen(  # noqa: S603 (the installed pgbouncer, our own ini)
        [PGBOUNCER, str(folder / "pgbouncer.ini")], user=user, stdout=output, stderr=output
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if process.poll() is not None:
                output.seek(0)
                raise AssertionError(f"pgbouncer did not start: {output.read().decode()}")
            assert time.monotonic() < deadline, "pgbouncer did not start"
            time.sleep(0.05)
        yield upstream.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=10)
        output.close()
        shutil.rmtree(folder, ignore_errors=True)


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
