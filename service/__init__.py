"""rolefit: role profiles, candidate competencies and explainable match scores over HTTP.

``create_app`` is the only way to build the service; nothing connects to a database at import.
"""

from __future__ import annotations

import os
import re
import time

import structlog
from flask import Flask, Response, g, request

from service.api.audit import recording as audit_recording
from service.api.auth import SECURITY_SCHEME, AuthError, handle_auth_error
from service.api.errors import problem, register_error_handlers
from service.api.jsonio import BoundedRequest, OrjsonProvider
from service.api.openapi import ProblemApi
from service.api.proxy import ForwardedFor
from service.api.rate_limits import init_rate_limits
from service.api.unit_of_work import close_request_connections
from service.config import Config
from service.domain import catalog
from service.infra import key_cache
from service.infra.database import Database
from service.observability import configure_logging, observe_request
from service.web import init_app as init_web

__all__ = ["create_app"]

API_TITLE = "rolefit"
API_VERSION = "1.0.0"
API_DESCRIPTION = (
    "Role profiles, candidate competency records and explainable, reproducible match scores. "
    "Errors are RFC 9457 problem details; lists are cursor-paginated; writes take "
    "Idempotency-Key (POST) and If-Match (PUT/PATCH). Bodies are RFC 8259 JSON of at most "
    "1 MiB, nested at most 32 deep, with no NaN or Infinity; string fields hold no control "
    "characters other than tab, line feed and carriage return."
)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_BODY_METHODS = {"POST", "PUT", "PATCH"}

access_log = structlog.get_logger("rolefit.access")
log = structlog.get_logger("rolefit")


def create_app(config: Config | None = None) -> Flask:
    """Build the WSGI application for ``config`` (default: from the environment)."""
    config = config or Config.from_env()
    configure_logging(config.log_level, config.log_format)
    app = Flask(__name__)
    app.request_class = BoundedRequest  # a chunked body over the limit is a 413 too
    app.json = OrjsonProvider(app)  # fields in schema order (id first), and fast
    app.config.update(
        MAX_CONTENT_LENGTH=config.max_body_bytes,
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="/docs/assets/",
        TESTING=config.testing,
        DEBUG=False,  # never, whatever FLASK_DEBUG says: no debugger, no tracebacks out
    )
    app.extensions["rolefit.config"] = config
    database = Database(
        config.database_url,
        statement_timeout_ms=config.statement_timeout_ms,
        pool_size=config.pool_size,
        transaction_pooler=config.database_transaction_pooler,
        long_statement_timeout_ms=config.rescore_timeout_seconds * 1000,
    )
    app.extensions["rolefit.db"] = database
    # Behind a transaction pooler without a direct URL, a LISTEN would sit on a server session
    # the pooler hands to others, and hear nothing: no cache then.
    listen_url = config.database_direct_url or (
        None if config.database_transaction_pooler else config.database_url
    )
    app.extensions["rolefit.key_cache"] = key_cache.shared(listen_url, catalog.token_sql())

    api = ProblemApi(
        app,
        spec_kwargs={
            "info": {
                "description": API_DESCRIPTION,
                "license": {"name": "MIT", "url": "https://opensource.org/licenses/MIT"},
                "contact": {"name": "rolefit maintainers"},
            },
            "servers": [{"url": "/"}],
        },
    )
    api.spec.components.security_scheme("bearerAuth", SECURITY_SCHEME)
    app.extensions["rolefit.api"] = api
    _register_blueprints(api)
    register_error_handlers(app)
    app.register_error_handler(AuthError, handle_auth_error)
    init_web(app)
    _register_request_hooks(app)
    audit_recording.init_app(app, config, database)
    init_rate_limits(app, config, database)
    # The client's address from a trusted proxy's X-Forwarded-For (the limit on failed
    # authentications counts per address).
    app.wsgi_app = ForwardedFor(app.wsgi_app, config.forwarded_allow_ips)  # type: ignore[method-assign]
    return app


def _register_blueprints(api: ProblemApi) -> None:
    from service.api.applications.routes import blp as applications
    from service.api.audit.routes import blp as audit
    from service.api.bias_audits.routes import blp as bias_audits
    from service.api.candidates.import_routes import blp as imports
    from service.api.candidates.routes import blp as candidates
    from service.api.competencies.routes import blp as competencies
    from service.api.events.routes import blp as events
    from service.api.jobs.routes import blp as jobs
    from service.api.matching.routes import blp as matching
    from service.api.model.routes import blp as model
    from service.api.ops import blp as ops
    from service.api.roles.routes import blp as roles
    from service.api.webhooks.routes import blp as webhooks

    blueprints = (
        ops,
        competencies,
        roles,
        candidates,
        imports,
        matching,
        jobs,
        applications,
        events,
        webhooks,
        audit,
        bias_audits,
        model,
    )
    for blueprint in blueprints:
        api.register_blueprint(blueprint)


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def start_request() -> Response | None:
        g.started = time.perf_counter()
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()
        if request.method in _BODY_METHODS and request.path.startswith("/v1/"):
            has_body = bool(request.content_length) or "chunked" in request.headers.get(
                "Transfer-Encoding", ""
            )
            mimetype = request.mimetype
            if has_body and not (mimetype == "application/json" or mimetype.endswith("+json")):
                return problem(415, "Unsupported Media Type", "send the body as application/json")
        return None

    @app.after_request
    def finish_request(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id") or os.urandom(16).hex()
        response.headers["X-Content-Type-Options"] = "nosniff"
        if request.path.startswith("/v1/"):
            response.headers["Cache-Control"] = "no-store"
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        duration = time.perf_counter() - g.get("started", time.perf_counter())
        observe_request(request.method, route, response.status_code, duration)
        principal = g.get("principal")
        access_log.info(
            "request",
            request_id=g.get("request_id"),
            method=request.method,
            route=route,
            status=response.status_code,
            duration_ms=round(duration * 1000, 2),
            key_id=principal.key_id if principal else None,
        )
        return response

    @app.teardown_appcontext
    def close_connections(_exc: BaseException | None) -> None:
        try:
            close_request_connections()
        except Exception as error:
            # The database went away with a transaction open (rolled back with the dead
            # connection): the response already chosen stands, never gunicorn's bare 500.
            log.warning("session_close_failed", error=type(error).__name__)
