"""A real server for the tests that need one (the dashboard's browser, the hostile-traffic
suite): a subprocess, ready once ``/healthz`` answers, stopped with SIGTERM (then SIGKILL)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx


@contextlib.contextmanager
def serving(
    argv: Sequence[str],
    *,
    base: str,
    env: dict[str, str],
    log_path: Path,
    cwd: Path | None = None,
    ready_within: float = 90,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (a server answering at ``base``), its output in ``log_path``; yields the
    process once it is ready. Generous by default: on a loaded machine a cold start (imports,
    workers forking) takes seconds."""
    with log_path.open("w") as log:
        process = subprocess.Popen(  # noqa: S603 - the project's own commands, fixed arguments
            list(argv), env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + ready_within
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.1)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
