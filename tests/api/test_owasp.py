"""The OWASP API Security Top 10 (2023), one class per item that applies to this service.

Tables of routes are derived from the running app's URL map (and each view's
``required_scope``, left by ``service.api.auth.requires``), so a route added later is checked
without anyone remembering to add it here.

Items that do not apply: API6 (sensitive business flows: there is no purchase- or
sign-up-like flow to automate; bulk scraping of candidates is bounded by the rate limits of
API4 and recorded by the audit trail), API7 (server-side request forgery: the service never
fetches a URL it is given), API10 (unsafe consumption of APIs: it calls no third-party API).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from flask_smorest import Blueprint

from service.api.auth import requires
from service.domain.apikeys import PRESETS, SCOPES
from tests.api.test_audit import fresh_app
from tests.api.test_ops_and_errors import assert_problem
from tests.conftest import REPO_ROOT, bearer

EMAIL, PHONE = "owasp.contact@example.org", "+1 555 0199 321"
PUBLIC = {  # operational endpoints, no key (README, "Health endpoints")
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.yaml",
    "/openapi.json",
    "/docs",
    "/docs/assets/<path:filename>",
    "/static/<path:filename>",
    "/",  # redirects to the dashboard
    "/ui/",  # the dashboard page (service/web): static files, it calls /v1 with a key
    "/ui/<path:filename>",
}
NOT_IN_SPEC = {
    "/docs",
    "/docs/assets/<path:filename>",
    "/openapi.json",
    "/static/<path:filename>",
    "/",
    "/ui/",
    "/ui/<path:filename>",
}
BODY_METHODS = {"POST", "PUT", "PATCH"}


def operations(app: Flask) -> list[tuple[str, str, Callable[..., Any]]]:
    """(rule, method, view) of every route and method the app serves (HEAD and OPTIONS are
    answered by Flask for the GET beside them)."""
    found = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        view_class = getattr(view, "view_class", None)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            handler = getattr(view_class, method.lower()) if view_class else view
            found.append((rule.rule, method, handler))
    return found


def v1_operations(app: Flask) -> list[tuple[str, str, str]]:
    """(rule, method, required scope) of every /v1 operation."""
    table = [
        (rule, method, getattr(handler, "required_scope", None))
        for rule, method, handler in operations(app)
        if rule.startswith("/v1/")
    ]
    return sorted(table)  # type: ignore[arg-type]


# Pipeline resources that none of these tests needs to exist (each is refused before, or 404).
ABSENT_JOB = "00000000-0000-7000-8000-0000000000f1"
ABSENT_APPLICATION = "00000000-0000-7000-8000-0000000000f2"
ABSENT_AUDIT = "00000000-0000-7000-8000-0000000000f3"
ABSENT_ENDPOINT = "01890000-0000-7000-8000-0000000000e1"


def url_for_rule(rule: str, candidate_id: str, role: str = "tpm") -> str:
    url = rule.replace("<uuid:candidate_id>", candidate_id)
    url = url.replace("<uuid:job_id>", ABSENT_JOB)
    url = url.replace("<uuid:application_id>", ABSENT_APPLICATION)
    url = url.replace("<uuid:audit_id>", ABSENT_AUDIT)
    url = url.replace("<uuid:endpoint_id>", ABSENT_ENDPOINT)
    url = url.replace("<string:event_id>", "evt_absent")
    url = url.replace("<string:key>", role).replace("<int:version>", "1")
    assert "<" not in url, f"no sample value for a parameter of {rule}: add one here"
    return url


def call(
    client: FlaskClient, method: str, url: str, headers: dict[str, str], body: Any = None
) -> Any:
    if method in BODY_METHODS and body is None:
        body = {}
    return client.open(url, method=method, json=body, headers=headers)


def key_with(make_key: Callable[..., str], preset: str) -> dict[str, str]:
    return bearer(make_key(preset))


@pytest.fixture
def candidate(client: FlaskClient, admin_headers) -> str:
    body = {
        "name": "Owasp Candidate",
        "email": EMAIL,
        "phone": PHONE,
        "competencies": [{"competency": "technical-depth", "level": 4}],
    }
    response = client.post("/v1/candidates", json=body, headers=admin_headers)
    assert response.status_code == 201
    return str(response.get_json()["id"])


class TestAPI1BrokenObjectLevelAuthorization:
    """Objects are reachable only as the key's scopes allow: no contact data without
    candidates:pii, an erased candidate is gone for everyone, stored responses are per key."""

    def test_a_dashboard_key_never_sees_contact_fields_in_any_response(
        self, app: Flask, client: FlaskClient, candidate: str, make_key
    ) -> None:
        dashboard = key_with(make_key, "dashboard")
        checked = 0
        for rule, method, scope in v1_operations(app):
            if scope not in PRESETS["dashboard"]:
                continue
            body = {"competencies": [{"competency": "technical-depth", "level": 3}]}
            response = call(
                client,
                method,
                url_for_rule(rule, candidate),
                dashboard,
                body if method == "POST" else None,
            )
            assert response.status_code < 500, (rule, method)
            text = response.get_data(as_text=True)
            assert EMAIL not in text and PHONE not in text, (rule, method)
            assert '"email"' not in text and '"phone"' not in text, (rule, method)
            checked += 1
        assert checked >= 12

    def test_an_erased_candidate_is_404_on_every_route_for_every_key(
        self, app: Flask, client: FlaskClient, candidate: str, admin_headers, make_key
    ) -> None:
        assert (
            client.delete(f"/v1/candidates/{candidate}", headers=admin_headers).status_code == 204
        )
        routes = [(r, m, s) for r, m, s in v1_operations(app) if "<uuid:candidate_id>" in r]
        assert len(routes) >= 6
        for preset in ("admin", "hr-system"):
            headers = {**key_with(make_key, preset), "If-Match": "*"}
            for rule, method, _scope in routes:
                body = {"competencies": []} if method == "PUT" else None
                if rule.endswith("/self-identification"):
                    body = {"sex": "female"}
                response = call(client, method, url_for_rule(rule, candidate), headers, body)
                assert_problem(response, 404)

    def test_a_stored_response_is_never_replayed_to_another_key(
        self, client: FlaskClient, make_key
    ) -> None:
        body = {"name": "Replay", "email": EMAIL}
        first = client.post(
            "/v1/candidates",
            json=body,
            headers={**key_with(make_key, "admin"), "Idempotency-Key": "shared-key"},
        )
        other = client.post(
            "/v1/candidates",
            json=body,
            headers={**key_with(make_key, "hr-system"), "Idempotency-Key": "shared-key"},
        )
        assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
        assert other.get_json()["id"] != first.get_json()["id"]


class TestAPI2BrokenAuthentication:
    """Missing, malformed, unknown, forged and revoked keys: 401 on every /v1 route, never a
    500, never a hint of which part was wrong beyond the header's shape."""

    @pytest.fixture
    def bad_headers(self, make_key, database) -> dict[str, dict[str, str]]:
        from service.domain.apikeys import revoke_key

        token = make_key("admin")
        revoked = make_key("admin")
        with database.session() as session:
            revoke_key(session, "key_" + revoked.split("_")[1])
            session.commit()
        return {
            "missing": {},
            "basic": {"Authorization": "Basic dXNlcjpwYXNz"},
            "empty bearer": {"Authorization": "Bearer "},
            "malformed": {"Authorization": "Bearer not-a-key"},
            "unknown": {"Authorization": "Bearer rf_000000000000_" + "x" * 43},
            "forged secret": bearer(
                token[:-6] + ("AAAAAA" if token[-6:] != "AAAAAA" else "BBBBBB")
            ),
            "revoked": bearer(revoked),
            "huge": {"Authorization": "Bearer " + "x" * 8000},
        }

    def test_every_route_answers_401_with_www_authenticate(
        self, app: Flask, client: FlaskClient, bad_headers, candidate: str
    ) -> None:
        for rule, method, _scope in v1_operations(app):
            url = url_for_rule(rule, candidate)
            for name, headers in bad_headers.items():
                response = call(client, method, url, headers)
                assert response.status_code == 401, (rule, method, name, response.status_code)
                assert response.headers["WWW-Authenticate"].startswith("Bearer"), (rule, name)
                assert_problem(response, 401)

    def test_secrets_are_stored_hashed_and_never_echoed(
        self, client: FlaskClient, make_key, database
    ) -> None:
        from sqlalchemy import text

        token = make_key("admin")
        secret = token.split("_", 2)[2]
        with database.engine.connect() as connection:
            stored = " ".join(str(r) for r in connection.execute(text("SELECT * FROM api_keys")))
        assert secret not in stored and token not in stored
        forged = client.get("/v1/roles", headers=bearer(token + "x"))
        assert token not in forged.get_data(as_text=True)


class TestAPI3BrokenObjectPropertyLevelAuthorization:
    """Server-owned and unknown fields are a 422, never silently taken or dropped; contact
    fields and legal holds are written only with the scopes that own them."""

    WRITES = [
        ("POST", "/v1/candidates", {"name": "X"}),
        ("PATCH", "/v1/candidates/{id}", {}),
        ("PUT", "/v1/candidates/{id}/competencies", {"competencies": []}),
        ("POST", "/v1/roles", {"key": "owasp-role", "title": "T", "responsibilities": []}),
        ("PUT", "/v1/roles/tpm", {"title": "T", "responsibilities": []}),
        ("POST", "/v1/competencies", {"key": "owasp-c", "name": "C", "category": "delivery"}),
        ("PATCH", "/v1/competencies/technical-depth", {}),
        ("POST", "/v1/match", {"competencies": []}),
    ]
    SERVER_OWNED = ["id", "created_at", "updated_at", "version", "score", "row_version"]

    @pytest.mark.parametrize("field", [*SERVER_OWNED, "is_admin", "scopes"])
    def test_server_owned_and_unknown_fields_are_422(
        self, client: FlaskClient, admin_headers, candidate: str, field: str
    ) -> None:
        headers = {**admin_headers, "If-Match": "*"}
        for method, path, body in self.WRITES:
            url = path.replace("{id}", candidate)
            response = call(client, method, url, headers, {**body, field: 1})
            errors = assert_problem(response, 422).get("errors", {})
            assert any(field in key for key in errors), (method, path, field, errors)

    def test_batch_items_with_server_owned_fields_fail_alone(
        self, client: FlaskClient, admin_headers
    ) -> None:
        items = [
            {"name": "ok"},
            {"name": "bad", "id": str(uuid.uuid4())},
            {"name": "x", "legal_hold": True},
        ]
        results = client.post(
            "/v1/candidates/batch", json={"candidates": items}, headers=admin_headers
        ).get_json()["results"]
        assert [r["status"] for r in results] == [201, 422, 422]

    def test_contact_fields_and_legal_hold_need_their_scopes(
        self, client: FlaskClient, make_key, candidate: str, database
    ) -> None:
        url = f"/v1/candidates/{candidate}"
        recruiter = {**key_with(make_key, "recruiter"), "If-Match": "*"}
        assert_problem(client.patch(url, json={"legal_hold": True}, headers=recruiter), 403)
        # No preset writes candidates without candidates:pii: make such a key by hand.
        from service.domain.apikeys import create_key

        with database.session() as session:
            key, token = create_key(session, name="no pii", preset="recruiter")
            key.scopes = "candidates:read candidates:write"
            session.commit()
        no_pii = {**bearer(token), "If-Match": "*"}
        for body in ({"email": EMAIL}, {"phone": None}):
            assert_problem(client.patch(url, json=body, headers=no_pii), 403)
        assert_problem(
            client.post("/v1/candidates", json={"name": "n", "phone": PHONE}, headers=no_pii), 403
        )
        shown = client.get(url, headers=no_pii).get_json()
        assert "email" not in shown and "phone" not in shown
        assert client.patch(url, json={"headline": "fine"}, headers=no_pii).status_code == 200


class TestAPI4UnrestrictedResourceConsumption:
    """Bodies, pages, batches and lists are bounded; keys are rate limited."""

    def test_every_body_over_one_mebibyte_is_413(
        self, app: Flask, client: FlaskClient, admin_headers, candidate: str
    ) -> None:
        payload = b'{"name": "' + b"a" * (1024 * 1024 + 1) + b'"}'
        writes = [(r, m) for r, m, _s in v1_operations(app) if m in BODY_METHODS]
        assert len(writes) >= 8
        for rule, method in writes:
            response = client.open(
                url_for_rule(rule, candidate),
                method=method,
                data=payload,
                headers={**admin_headers, "Content-Type": "application/json", "If-Match": "*"},
            )
            assert_problem(response, 413)

    def test_every_list_bounds_its_page_size(
        self, app: Flask, client: FlaskClient, admin_headers, candidate: str
    ) -> None:
        spec = app.extensions["rolefit.api"].spec.to_dict()
        lists = [
            path
            for path, item in spec["paths"].items()
            if any(p.get("name") == "limit" for p in item.get("get", {}).get("parameters", []))
        ]
        assert len(lists) >= 6
        job = client.post("/v1/jobs", json={"title": "T", "role": "tpm"}, headers=admin_headers)
        endpoint = client.post(
            "/v1/webhook-endpoints",
            json={"url": "https://hooks.example.com", "event_types": ["job.*"]},
            headers=admin_headers,
        )
        for path in lists:
            url = path.replace("{candidate_id}", candidate).replace("{key}", "tpm")
            url = url.replace("{job_id}", job.get_json()["id"])
            url = url.replace("{endpoint_id}", endpoint.get_json()["id"])
            for limit in ("0", "201", "-1", "99999999999"):
                response = client.get(url, query_string={"limit": limit}, headers=admin_headers)
                assert_problem(response, 422)
            assert (
                client.get(url, query_string={"limit": 200}, headers=admin_headers).status_code
                == 200
            )

    def test_batches_and_records_are_bounded(self, client: FlaskClient, admin_headers) -> None:
        too_many = {"candidates": [{"name": f"n{i}"} for i in range(501)]}
        assert_problem(
            client.post("/v1/candidates/batch", json=too_many, headers=admin_headers), 422
        )
        records = [
            {"competency": "technical-depth", "level": 1, "note": str(i)} for i in range(201)
        ]
        assert_problem(
            client.post(
                "/v1/candidates", json={"name": "x", "competencies": records}, headers=admin_headers
            ),
            422,
        )
        long_name = {"name": "x" * 201}
        assert_problem(client.post("/v1/candidates", json=long_name, headers=admin_headers), 422)

    def test_keys_are_rate_limited(self, request, database_url: str, make_key) -> None:
        limited = fresh_app(request, database_url, rate_limit=2, rate_limit_window=3600)
        client = limited.test_client()
        headers = key_with(make_key, "dashboard")
        statuses = [client.get("/v1/roles", headers=headers).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]


class TestAPI5BrokenFunctionLevelAuthorization:
    """Every route checks its scope, for every preset. The table is the URL map itself."""

    def test_every_v1_route_declares_a_known_scope_and_every_other_route_is_public(
        self, app: Flask
    ) -> None:
        table = v1_operations(app)
        assert len(table) >= 20
        for rule, method, scope in table:
            assert scope in SCOPES, f"{method} {rule} has no @requires(scope)"
        for rule, method, _handler in operations(app):
            if not rule.startswith("/v1/"):
                assert rule in PUBLIC, f"{rule} is outside /v1 and not a known public endpoint"
                assert method == "GET", f"{method} {rule} writes without a key"

    def test_each_preset_is_refused_exactly_the_routes_it_lacks_the_scope_for(
        self, app: Flask, client: FlaskClient, make_key
    ) -> None:
        keys = {preset: key_with(make_key, preset) for preset in PRESETS}
        absent = str(uuid.uuid4())  # nothing is ever changed by these requests
        outcomes: dict[tuple[str, str, str], int] = {}
        for rule, method, scope in v1_operations(app):
            url = url_for_rule(rule, absent, role="owasp-absent-role")
            for preset, headers in keys.items():
                response = call(client, method, url, {**headers, "If-Match": '"0"'})
                outcomes[(preset, method, rule)] = response.status_code
                if scope in PRESETS[preset]:
                    assert response.status_code not in (401, 403), (preset, method, rule, scope)
                else:
                    body = assert_problem(response, 403)
                    assert scope in body["detail"]
        # Every preset but admin is refused something; admin nothing.
        refused = {p for (p, _m, _r), status in outcomes.items() if status == 403}
        assert refused == set(PRESETS) - {"admin"}

    def test_a_new_route_without_a_scope_is_caught(self, request, database_url: str) -> None:
        app = fresh_app(request, database_url)
        blp = Blueprint("sneaky", __name__)

        @blp.route("/v1/sneaky")
        def sneaky() -> dict[str, str]:
            return {"data": "everything"}

        @blp.route("/v1/scoped")
        @requires("keys:admin")
        def scoped() -> dict[str, str]:
            return {}

        app.extensions["rolefit.api"].register_blueprint(blp)
        scopes = {rule: scope for rule, _method, scope in v1_operations(app)}
        assert scopes["/v1/sneaky"] is None  # the check above would fail for this app
        assert scopes["/v1/scoped"] == "keys:admin"


class TestAPI8SecurityMisconfiguration:
    """Security headers everywhere, no debug mode in any served configuration, no internals in
    errors, no secrets or contact data in logs."""

    def test_security_headers_on_every_response(
        self, app: Flask, client: FlaskClient, admin_headers, candidate: str
    ) -> None:
        responses = [
            call(client, method, url_for_rule(rule, candidate), admin_headers)
            for rule, method, _scope in v1_operations(app)
        ]
        responses += [
            client.get("/v1/roles"),  # 401
            client.get("/v1/nowhere", headers=admin_headers),  # 404
            client.open("/v1/roles", method="TRACE", headers=admin_headers),  # 405
        ]
        for response in responses:
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Cache-Control"] == "no-store"
            assert "Access-Control-Allow-Origin" not in response.headers
        for path in ("/healthz", "/metrics", "/openapi.yaml"):
            assert client.get(path).headers["X-Content-Type-Options"] == "nosniff"

    def test_no_debug_mode_whatever_the_environment_says(
        self, request, database_url: str, monkeypatch
    ) -> None:
        monkeypatch.setenv("FLASK_DEBUG", "1")
        monkeypatch.setenv("ROLEFIT_DATABASE_URL", database_url)
        app = fresh_app(request)
        assert app.debug is False and app.config["DEBUG"] is False
        assert not app.testing and not app.config["PROPAGATE_EXCEPTIONS"]
        # The served app (gunicorn service.wsgi:app) is the same factory's.
        import importlib

        import service.wsgi

        served = importlib.reload(service.wsgi).app
        assert served.debug is False
        served.extensions["rolefit.db"].dispose()

    def test_served_configurations_never_turn_debugging_on(self) -> None:
        tree = ast.parse((REPO_ROOT / "gunicorn.conf.py").read_text())
        assigned = {
            target.id: node.value
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        for name in ("reload", "spew"):
            value = assigned.get(name)
            assert value is None or (isinstance(value, ast.Constant) and not value.value), name
        dockerfile = (REPO_ROOT / "Dockerfile").read_text()
        assert "FLASK_DEBUG" not in dockerfile and "FLASK_ENV" not in dockerfile

    def test_a_500_shows_no_internals(self, request, database_url: str, admin_headers) -> None:
        app = fresh_app(request, database_url)
        blp = Blueprint("owasp_boom", __name__)

        @blp.route("/v1/_owasp/boom")
        @requires("roles:read")
        def boom() -> None:
            raise RuntimeError(f"password=hunter2 {EMAIL} SELECT * FROM candidates")

        app.extensions["rolefit.api"].register_blueprint(blp)
        response = app.test_client().get("/v1/_owasp/boom", headers=admin_headers)
        text = json.dumps(assert_problem(response, 500))
        for leak in ("hunter2", EMAIL, "SELECT", "Traceback", "RuntimeError"):
            assert leak not in text

    def test_logs_never_hold_the_authorization_header_secrets_or_contact_fields(
        self, database_url: str, database
    ) -> None:
        """Runs a session of requests in a fresh process at DEBUG level and reads all it wrote."""
        env = {
            **os.environ,
            "ROLEFIT_DATABASE_URL": database_url,
            "ROLEFIT_LOG_LEVEL": "DEBUG",
            "ROLEFIT_LOG_FORMAT": "json",
            "ROLEFIT_RATE_LIMIT": "1000",
        }
        env.pop("FLASK_DEBUG", None)
        result = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, "-c", LOG_PROBE, EMAIL, PHONE],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        token = result.stdout.strip().splitlines()[-1]
        logs = result.stderr
        events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
        assert {"/v1/candidates", "/v1/candidates/<uuid:candidate_id>"} <= {
            e.get("route") for e in events
        }  # the access log was captured
        failures = [e for e in events if e["event"] == "unhandled_exception"]
        assert failures and "hide_parameters" in failures[0]["exception"]  # and the traceback
        for leak in (
            token,
            token.split("_", 2)[2],
            "Bearer",
            "Basic dXNl",
            EMAIL,
            PHONE,
            "Probe Person",
        ):
            assert leak not in logs, f"{leak!r} was written to a log"


LOG_PROBE = r"""
import sys
from sqlalchemy import text
from service import create_app
from service.domain import apikeys
import service.domain.candidates as candidates

email, phone = sys.argv[1], sys.argv[2]
app = create_app()
with app.extensions["rolefit.db"].session() as session:
    _key, token = apikeys.create_key(session, name="log probe", preset="admin")
    session.commit()
client = app.test_client()
auth = {"Authorization": f"Bearer {token}"}
person = {"name": "Probe Person", "email": email, "phone": phone,
          "competencies": [{"competency": "technical-depth", "level": 3, "note": email}]}
created = client.post("/v1/candidates", json=person, headers={**auth, "Idempotency-Key": email})
cid = created.get_json()["id"]
client.get(f"/v1/candidates/{cid}", headers=auth)
client.get("/v1/candidates", query_string={"q": "Probe Person"}, headers=auth)
client.patch(f"/v1/candidates/{cid}", json={"phone": phone}, headers={**auth, "If-Match": "*"})
client.post("/v1/candidates", json={**person, "email": "not-an-email " + email}, headers=auth)
client.get("/v1/roles", headers={"Authorization": f"Bearer {token}x"})
client.get("/v1/roles", headers={"Authorization": "Basic dXNlcjpwYXNz"})

def failing(session, candidate_id):  # a database error whose parameters hold contact data
    session.execute(text("SELECT :email"), {"email": {"address": email, "phone": phone}})

candidates.get_candidate = failing
assert client.get(f"/v1/candidates/{cid}", headers=auth).status_code == 500
app.extensions["rolefit.audit"].flush()
print(token)
"""


class TestAPI9ImproperInventoryManagement:
    """Every route the app serves is in openapi.yaml, and everything there is served."""

    def test_the_url_map_and_openapi_yaml_list_the_same_operations(self, app: Flask) -> None:
        def as_path(rule: str) -> str:
            return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)

        served = {
            (as_path(rule), method.lower())
            for rule, method, _handler in operations(app)
            if rule not in NOT_IN_SPEC
        }
        spec = yaml.safe_load((REPO_ROOT / "openapi.yaml").read_text(encoding="utf-8"))
        ignored = {as_path(rule) for rule in NOT_IN_SPEC}
        documented = {
            (path, method)
            for path, item in spec["paths"].items()
            if path not in ignored
            for method in item
            if method in {"get", "post", "put", "patch", "delete"}
        }
        assert served - documented == set(), "served but not in openapi.yaml (run make openapi)"
        assert documented - served == set(), "in openapi.yaml but not served"
        assert {"/v1/audit-events", "/v1/candidates/{candidate_id}"} <= {p for p, _ in served}

    def test_there_is_one_api_version_and_it_is_v1(self, app: Flask) -> None:
        versions = {
            rule.split("/")[1] for rule, _m, _h in operations(app) if re.match(r"^/v\d+/", rule)
        }
        assert versions == {"v1"}
