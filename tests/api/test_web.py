"""The dashboard's files as the service serves them: where, with which headers, how big, and
what they may not contain. The page's behaviour in a browser is in tests/browser/."""

from __future__ import annotations

import re
import tomllib
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.web import ASSETS, CONTENT_SECURITY_POLICY, WEB_ROOT
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import REPO_ROOT, make_config

BUDGET_BYTES = 150 * 1024
EXTENSIONS = {".html", ".js", ".css", ".svg", ".png", ".ico"}
IMPORT = re.compile(r"""^\s*import\s[^;]*?from\s+["'](\.{1,2}/[^"']+)["']""", re.MULTILINE)


@pytest.fixture(scope="module")
def web_app() -> Flask:
    return create_app(make_config("sqlite://"))  # building an app connects to nothing


@pytest.fixture
def web(web_app: Flask) -> FlaskClient:
    return web_app.test_client()


def own_files() -> list[Path]:
    return sorted(
        path for path in WEB_ROOT.rglob("*") if path.is_file() and path.suffix in EXTENSIONS
    )


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict[str, str | None]] = []
        self.styles: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self.style_elements = 0
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.inline += [f"{tag} {name}" for name, _v in attrs if name == "style"]
        self.inline += [f"{tag} {name}" for name, _v in attrs if name.startswith("on")]
        if tag == "script":
            self.scripts.append(named)
            self._in_script = True
        elif tag == "style":
            self.style_elements += 1
        elif tag == "link" and named.get("rel") == "stylesheet":
            self.styles.append(named)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append("script body")


def _page() -> _Page:
    page = _Page()
    page.feed((WEB_ROOT / "index.html").read_text(encoding="utf-8"))
    return page


def test_the_root_sends_a_browser_to_the_dashboard(web: FlaskClient) -> None:
    response = web.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/ui/"
    assert web.get("/ui").status_code == 308  # Flask's slash redirect


def test_the_page_has_a_strict_csp_and_revalidates(web: FlaskClient) -> None:
    response = web.get("/ui/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "connect-src 'self'" in CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-cache"
    again = web.get("/ui/", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


def test_every_script_and_style_is_a_file_of_the_service(web: FlaskClient) -> None:
    """No inline script, style or handler (the CSP would block them), no CDN: each module the
    page loads, and each module those import, is served from /ui/ as JavaScript."""
    page = _page()
    assert page.inline == [] and page.style_elements == 0
    assert page.scripts and all(s.get("type") == "module" for s in page.scripts)
    queue = [str(s["src"]) for s in page.scripts] + [str(s["href"]) for s in page.styles]
    seen: set[str] = set()
    while queue:
        url = queue.pop()
        if url in seen:
            continue
        seen.add(url)
        assert url.startswith("/ui/"), url
        response = web.get(url)
        assert response.status_code == 200, url
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["Cache-Control"] == "no-cache"
        if url.endswith(".js"):
            assert response.mimetype == "text/javascript"
            base = url.rsplit("/", 1)[0] + "/"
            for relative in IMPORT.findall(response.get_data(as_text=True)):
                queue.append(_join(base, relative))
        else:
            assert response.mimetype == "text/css"
    served = {url.removeprefix("/ui/") for url in seen}
    on_disk = {str(p.relative_to(ASSETS)) for p in own_files() if p.is_relative_to(ASSETS)}
    assert on_disk == served, "a file in service/web/assets that the page never loads"


def _join(base: str, relative: str) -> str:
    parts = base.rstrip("/").split("/")
    for piece in relative.split("/"):
        if piece == "..":
            parts.pop()
        elif piece != ".":
            parts.append(piece)
    return "/".join(parts)


def test_the_pages_own_files_stay_within_150_kb() -> None:
    sizes = {str(path.relative_to(WEB_ROOT)): path.stat().st_size for path in own_files()}
    assert "index.html" in sizes and any(name.endswith(".js") for name in sizes)
    assert sum(sizes.values()) <= BUDGET_BYTES, sizes


def test_the_package_ships_every_file_of_the_page() -> None:
    """The Docker image installs the package (pip install .): its data globs must take them."""
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = project["tool"]["setuptools"]["package-data"]["service"]
    shipped = {path for pattern in globs for path in (REPO_ROOT / "service").glob(pattern)}
    assert set(own_files()) - shipped == set()


def test_the_scripts_keep_the_key_in_session_storage_and_data_out_of_markup() -> None:
    """The key never goes to a cookie, localStorage or a URL, and API data is never parsed as
    HTML (every value is set as text)."""
    scripts = {p.name: p.read_text(encoding="utf-8") for p in own_files() if p.suffix == ".js"}
    for name, source in scripts.items():
        for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert banned not in source, f"{name} uses {banned}"
        assert "localStorage" not in source and "document.cookie" not in source, name
        assert "eval(" not in source and "new Function" not in source, name
        urls = set(re.findall(r"https?://[^\s\"'`)]+", source)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), f"{name} names another origin: {urls}"
    api = scripts["api.js"]
    assert "sessionStorage" in api and "Authorization" in api


def test_nothing_else_is_served_from_the_folder(web: FlaskClient) -> None:
    for url in ("/ui/../__init__.py", "/ui/%2e%2e/__init__.py", "/ui/js/missing.js", "/ui/x.py"):
        response = web.get(url)
        assert_problem(response, 404)
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert web.post("/ui/").status_code == 405


def test_the_page_is_not_part_of_the_api_document() -> None:
    spec = yaml.safe_load((REPO_ROOT / "openapi.yaml").read_text(encoding="utf-8"))
    assert not [path for path in spec["paths"] if path == "/" or path.startswith("/ui")]
