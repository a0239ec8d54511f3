"""The hostile-traffic suite's servers: ``rolefit serve`` (gunicorn, 2 sync workers, SQLite) on a
free port, and deploy/nginx.conf in front of it, run unprivileged by tests/hostile/nginx.py.

Without nginx (/usr/sbin/nginx) the suite is skipped, unless ``ROLEFIT_REQUIRE_NGINX=1`` (set by
.ci/run) makes that a failure.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile import nginx
from tests.serving import serving

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent
FAILURE_LIMIT = 10  # the server's ROLEFIT_AUTH_FAILURE_LIMIT
WORKERS = 2
CLIENT_TIMEOUT_SECONDS = 2  # nginx's header/body/send timeouts in the suite (10 s deployed)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if nginx.nginx_available():
        return
    if os.environ.get("ROLEFIT_REQUIRE_NGINX") == "1":
        raise pytest.UsageError(f"ROLEFIT_REQUIRE_NGINX=1 but there is no nginx at {nginx.NGINX}")
    skip = pytest.mark.skip(
        reason=f"nginx is not installed ({nginx.NGINX}): apt-get install nginx, "
        "or ROLEFIT_REQUIRE_NGINX=1 to make this a failure"
    )
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(skip)


@dataclass
class Stack:
    nginx: nginx.Nginx
    gunicorn: str  # base URL of gunicorn itself
    key: str  # a valid admin key

    @property
    def base(self) -> str:
        return self.nginx.base


def serve_env(folder: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in list(env):
        if name.startswith("ROLEFIT_") or name == "PROMETHEUS_MULTIPROC_DIR":
            del env[name]
    env.update(
        PYTHONPATH=str(ROOT),
        ROLEFIT_DATABASE_URL=f"sqlite:///{folder / 'rolefit.db'}",
        ROLEFIT_DRAIN_SECONDS="0",
        ROLEFIT_LOG_LEVEL="WARNING",
        ROLEFIT_LOG_FORMAT="json",
        ROLEFIT_WORKERS=str(WORKERS),
        ROLEFIT_AUTH_FAILURE_LIMIT=str(FAILURE_LIMIT),
        ROLEFIT_AUTH_FAILURE_WINDOW="60",
        **extra,
    )
    return env


def rolefit(env: dict[str, str], *args: str) -> str:
    return subprocess.run(  # noqa: S603 - our own CLI
        [str(BIN / "rolefit"), *args], env=env, check=True, capture_output=True, text=True
    ).stdout


@contextlib.contextmanager
def rolefit_serve(env: dict[str, str], log: Path) -> Iterator[str]:
    """``rolefit serve`` on a free port; yields its base URL."""
    port = nginx.free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [str(BIN / "rolefit"), "serve", "--bind", f"127.0.0.1:{port}"]
    with serving(argv, base=base, env=env, log_path=log, cwd=ROOT):
        yield base


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    folder = Path(tempfile.mkdtemp(prefix="rolefit-hostile-"))
    env = serve_env(folder)
    rolefit(env, "db", "upgrade")
    key = rolefit(env, "keys", "create", "--name", "hostile", "--preset", "admin").split()[-1]
    with (
        rolefit_serve(env, folder / "gunicorn.log") as gunicorn,
        nginx.running(
            gunicorn.removeprefix("http://"), client_timeout=f"{CLIENT_TIMEOUT_SECONDS}s"
        ) as proxy,
    ):
        yield Stack(proxy, gunicorn, key)
