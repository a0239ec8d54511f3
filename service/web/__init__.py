"""The dashboard page at ``/ui/``: static HTML, CSS and ES modules, a pure client of ``/v1``.

Nothing here reads the database or knows a key: the page's scripts call the public API with the
key the user pastes (kept in ``sessionStorage``), so the page is also the living example of how
to use it. The routes are a plain Flask blueprint, not flask-smorest's, so they stay out of the
OpenAPI document. Every response carries a strict Content-Security-Policy (no inline script or
style, ``connect-src 'self'``, no framing). There is no build step and no fingerprinted file
name, so the files are served ``no-cache`` with an ETag: a browser revalidates (a 304, no body)
and an upgrade of the service is seen at the next load.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Flask, Response, redirect, request, send_from_directory
from werkzeug.exceptions import NotFound

WEB_ROOT = Path(__file__).resolve().parent
ASSETS = WEB_ROOT / "assets"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Served by extension, never by the machine's mime.types: a module script must be JavaScript to
# a browser that honours nosniff, and anything else in the folder is not the page's to serve.
MIMETYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

blp = Blueprint("web", __name__)


@blp.route("/")
def root() -> Response:
    """The service's root sends a browser to the dashboard."""
    return redirect("/ui/", code=302)  # type: ignore[return-value]


@blp.route("/ui/")
def index() -> Response:
    """The page itself; every view is a hash route of it (``#/roles/tpm``)."""
    return send_from_directory(WEB_ROOT, "index.html", mimetype="text/html", max_age=None)


@blp.route("/ui/<path:filename>")
def asset(filename: str) -> Response:
    """One of the page's own scripts, styles or images (404 for anything else)."""
    mimetype = MIMETYPES.get(Path(filename).suffix)
    if mimetype is None:
        raise NotFound()
    return send_from_directory(ASSETS, filename, mimetype=mimetype, max_age=None)


@blp.after_request
def _page_headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    if request.endpoint != "web.root":
        response.headers["Cache-Control"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Serve the dashboard from ``app``."""
    app.register_blueprint(blp)
