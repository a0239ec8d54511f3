"""Run ``deploy/nginx.conf`` unprivileged on a free port, in front of a given upstream.

The template's ``${ROLEFIT_NGINX_*}`` placeholders are filled in the way ``envsubst`` would
(the README's command); an unknown or missing placeholder is an error, so the template and
this renderer cannot drift apart silently. Used by tests/hostile and bench/hostile.py.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
TEMPLATE = ROOT / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
_PLACEHOLDER = re.compile(r"\$\{(ROLEFIT_NGINX_[A-Z_]+)\}")


def nginx_available() -> bool:
    return os.access(NGINX, os.X_OK)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def render(values: dict[str, str], template: Path = TEMPLATE) -> str:
    """The template with every placeholder replaced; KeyError for one without a value."""
    text = template.read_text()
    wanted = set(_PLACEHOLDER.findall(text))
    unused = set(values) - wanted
    if unused:
        raise KeyError(f"not placeholders of {template.name}: {sorted(unused)}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


@dataclass
class Nginx:
    port: int
    folder: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def error_log(self) -> str:
        return (self.folder / "error.log").read_text()


def configure(upstream: str, folder: Path, *, port: int, client_timeout: str = "10s") -> Path:
    """Write the rendered configuration into ``folder``; returns its path."""
    config = folder / "nginx.conf"
    config.write_text(
        render(
            {
                "ROLEFIT_NGINX_LISTEN": f"127.0.0.1:{port}",
                "ROLEFIT_NGINX_UPSTREAM": upstream,
                "ROLEFIT_NGINX_RUN_DIR": str(folder),
                "ROLEFIT_NGINX_LOG_DIR": str(folder),
                "ROLEFIT_NGINX_CLIENT_TIMEOUT": client_timeout,
            }
        )
    )
    return config


def check(config: Path) -> subprocess.CompletedProcess[str]:
    """``nginx -t`` on a rendered configuration."""
    return subprocess.run(  # noqa: S603 - the system's nginx, our rendered file
        [NGINX, "-t", "-q", "-c", str(config), "-p", str(config.parent)],
        capture_output=True,
        text=True,
        check=False,
    )


@contextlib.contextmanager
def running(upstream: str, *, client_timeout: str = "10s") -> Iterator[Nginx]:
    """nginx in the foreground on a free port of 127.0.0.1, stopped (and its folder removed)
    afterwards."""
    # Not pytest's tmp_path: when the tests run as root, nginx's workers run as nobody and
    # must be able to reach the folder (nginx gives them the temporary subfolders itself).
    folder = Path(tempfile.mkdtemp(prefix="rolefit-nginx-"))
    folder.chmod(0o755)
    port = free_port()
    config = configure(upstream, folder, port=port, client_timeout=client_timeout)
    process = subprocess.Popen(  # noqa: S603 - the system's nginx, our rendered file
        [NGINX, "-c", str(config), "-p", str(folder), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"nginx exited: {process.stderr.read() if process.stderr else ''}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        else:
            raise RuntimeError("nginx did not start listening within 10 s")
        yield Nginx(port, folder)
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish what is in flight
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
