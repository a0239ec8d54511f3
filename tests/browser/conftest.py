"""A real server with the demo data and Debian's Chromium driven by Playwright, for the dashboard.

The server is what ``make run`` starts: a SQLite database of its own (whatever
ROLEFIT_TEST_DATABASE_URL says, so the PostgreSQL pass of ``make test`` would only repeat these
tests: they run in the SQLite pass and skip in the other), ``rolefit db upgrade``, ``rolefit demo
--candidates 200``, keys made with ``rolefit keys create``, and ``rolefit serve`` on a free port
of 127.0.0.1 with one worker. Self-identification answers are written for the demo candidates
through the API, so that a bias audit has categories to show.

Without /usr/bin/chromium (or the playwright package) the tests skip, saying so; with
ROLEFIT_REQUIRE_BROWSER=1 (CI's .ci/run sets it) a missing browser is a failure instead. No
browser is ever downloaded: Playwright launches the system Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import POSTGRES_URL, REPO_ROOT
from tests.serving import serving

CHROMIUM = Path(os.environ.get("ROLEFIT_CHROMIUM", "/usr/bin/chromium"))
# The last three keep a headless Chromium from reaching out at start on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = REPO_ROOT / "var" / "screenshots"
DEMO_CANDIDATES = 200
SEXES = ("female", "male", "male", "female", "declined")
RACES = (
    "white",
    "asian",
    "black-or-african-american",
    "hispanic-or-latino",
    "white",
    "two-or-more-races",
    "declined",
)


def _missing_browser(reason: str) -> None:
    message = f"browser tests need {reason} (apt-get install chromium; pip install playwright)"
    if os.environ.get("ROLEFIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"ROLEFIT_REQUIRE_BROWSER=1: {message}", pytrace=False)
    pytest.skip(message)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not POSTGRES_URL:
        return
    skip = pytest.mark.skip(
        reason="browser tests run in the SQLite pass only: their server has its own SQLite "
        "database, so this pass would repeat them"
    )
    for item in items:
        if item.path.is_relative_to(Path(__file__).parent):
            item.add_marker(skip)


SEPARATOR = "\x1e\n"
CLI_RUNNER = """
import json, sys
from service.cli import main
for args in json.loads(sys.argv[1]):
    main(args, standalone_mode=False)
    print("\\x1e", flush=True)
"""


@dataclass
class Server:
    url: str
    env: dict[str, str]
    admin_key: str = ""
    dashboard_key: str = ""
    revocable_key: tuple[str, str] = ("", "")

    def api(self, key: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key or self.admin_key}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def cli(self, *commands: list[str]) -> list[str]:
        """Run ``rolefit`` commands, in order, in one process (a Python start costs seconds on
        a busy machine); the output of each."""
        result = subprocess.run(  # noqa: S603 - our own command line, fixed arguments
            [sys.executable, "-c", CLI_RUNNER, json.dumps(commands)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        return result.stdout.split(SEPARATOR)[: len(commands)]


def key_create(preset: str, name: str) -> list[str]:
    return ["keys", "create", "--name", name, "--preset", preset]


def created_key(output: str) -> tuple[str, str]:
    """(key id, secret) from what ``rolefit keys create`` printed."""
    lines = output.strip().splitlines()
    return lines[0].split()[1], lines[-1].strip()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _seed_self_identification(server: Server) -> None:
    with server.api() as api:
        ranking = api.get("/v1/roles/tpm/matches", params={"limit": 200}).json()["data"]
        for index, item in enumerate(ranking):
            body = {"sex": SEXES[index % len(SEXES)], "race_ethnicity": RACES[index % len(RACES)]}
            response = api.put(
                f"/v1/candidates/{item['candidate']['id']}/self-identification", json=body
            )
            assert response.status_code == 204, response.text


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("browser-server")
    env = {name: value for name, value in os.environ.items() if not name.startswith("ROLEFIT_")}
    env.update(
        ROLEFIT_DATABASE_URL=f"sqlite:///{folder / 'rolefit.db'}",
        ROLEFIT_SECRET_KEY="a browser-test key for webhook secrets",
        ROLEFIT_LOG_LEVEL="WARNING",
        ROLEFIT_DRAIN_SECONDS="0",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")])),
    )
    port = _free_port()
    server = Server(url=f"http://127.0.0.1:{port}", env=env)
    _upgraded, _demo, admin, dashboard, revocable = server.cli(
        ["db", "upgrade"],
        ["demo", "--candidates", str(DEMO_CANDIDATES)],
        key_create("admin", "browser admin"),
        key_create("dashboard", "browser dashboard"),
        key_create("recruiter", "browser revoked"),
    )
    server.admin_key = created_key(admin)[1]
    server.dashboard_key = created_key(dashboard)[1]
    server.revocable_key = created_key(revocable)
    argv = [sys.executable, "-c", "from service.cli import main; main()", "serve"]
    argv += ["--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with serving(argv, base=server.url, env=env, log_path=folder / "serve.log", ready_within=30):
        _seed_self_identification(server)
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("the playwright package")
    if not (CHROMIUM.exists() or shutil.which(str(CHROMIUM))):
        _missing_browser(f"Chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    """A fresh tab (its own sessionStorage) at 1440 x 900; a script error fails the test."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))

    def console(message: Any) -> None:
        # A refused request is logged by Chromium itself; the page shows it as a problem.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    tab.on("console", console)
    yield tab
    context.close()
    assert errors == [], errors


@pytest.fixture
def sign_in(page: Any, server: Server) -> Callable[..., Any]:
    """``sign_in(key=None, hash="#/roles")`` opens the page, pastes the key, waits for the view."""

    def go(key: str | None = None, route: str = "#/roles") -> Any:
        page.goto(f"{server.url}/ui/{route}")
        page.fill("#key", key or server.admin_key)
        page.click("#signin-form button[type=submit]")
        wait_ready(page, route)
        return page

    return go


def wait_ready(page: Any, route: str) -> None:
    """The view of ``route`` has rendered (or shown its problem)."""
    page.wait_for_function(
        "route => { const main = document.getElementById('view');"
        " return main.dataset.ready === 'true' && main.dataset.route === route; }",
        arg=route,
    )


def open_view(page: Any, route: str) -> Any:
    """Follow ``route`` (``#/jobs/<id>``) inside the signed-in page and wait for its view."""
    page.evaluate("route => { location.hash = route; }", route)
    wait_ready(page, route)
    return page


def screenshot(page: Any, name: str, *, full_page: bool = False) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
