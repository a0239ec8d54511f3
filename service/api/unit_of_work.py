"""The request's unit of work: its connection, its session, its transaction, and the two HTTP
preconditions that guard writes (``If-Match``) and retries (``Idempotency-Key``).

This is the one module that opens, commits and closes what a request uses of the database.

Which connection a request gets
    Decided once per request, before its first statement, from the method and the view's
    declaration (so the order of decorators does not matter for it):

    - **reads**: GET and HEAD, and views marked :func:`read_only` (``POST /v1/match``). The
      first statement (the API-key lookup) opens an autocommit connection of the read pool;
      the ORM session, if the view asks for one, shares it. No BEGIN, no COMMIT, no ROLLBACK.
    - **writes**: every other request. :func:`request_session` is one transaction on the write
      pool; the key lookup runs in it too. Views marked :func:`write` have it committed when they
      return a success, rolled back otherwise; a request that is refused before its view runs
      (401, 403, 422 from the schema) is rolled back at teardown.

    Domain functions only add, flush and execute: they never commit.

Decorators, in this order on every ``/v1`` view that changes something::

    @requires("candidates:write")       # authenticate (on the request's connection), scope
    @write                              # Idempotency-Key, then the transaction
    @blp.arguments(CandidatePatchSchema)  # parse and validate the body
    @blp.response(200, CandidateSchema) # document the success
    @audited("update", "candidate", id_arg="candidate_id")  # the audit event, in the transaction
    def patch(self, changes, candidate_id): ...

``@read_only`` stands where ``@write`` does. Both honour ``Idempotency-Key`` on POST: the key is
claimed in its own short transaction (a concurrent retry sees it and gets a 409), and the
response is stored in the request's transaction (:mod:`service.infra.idempotency_store`), so an
acknowledged write and its replayable response commit together or not at all. A retry with the
same key and body replays the stored response with ``Idempotent-Replayed: true``; the same key
with another body is a 422.

``If-Match``: PUT and PATCH views load the resource, then call :func:`check_if_match` with its
current ETag (missing: 428, stale: 412) before changing anything. A concurrent writer that wins
between the check and the flush makes the version column's check fail: ``@write`` answers 412.

Teardown (:func:`close_request_connections`) closes the session and the connection whatever
happened.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Response, current_app, g, request
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from service.api.blueprint import view_handler
from service.api.errors import abort
from service.api.jsonio import request_json
from service.infra import idempotency_store
from service.infra.database import Database

F = TypeVar("F", bound=Callable[..., Any])

MODE_ATTRIBUTE = "unit_of_work_mode"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# 1..255 printable ASCII characters, inner spaces allowed, none at either end.
IDEMPOTENCY_KEY_PATTERN = "^[!-~]([ -~]{0,253}[!-~])?$"
# RFC 9110, section 13.1.1: "*" or a comma-separated list of entity tags (ASCII etagc).
IF_MATCH_PATTERN = r'^(\*|(W/)?"[!#-~]*"([ \t]*,[ \t]*(W/)?"[!#-~]*")*)$'
_READ_METHODS = frozenset({"GET", "HEAD"})
_REPLAYED_HEADERS = ("Location", "ETag", "Content-Type")
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


# --------------------------------------------------------------------------- connection, session


def _database() -> Database:
    database: Database = current_app.extensions["rolefit.db"]
    return database


def is_read_request() -> bool:
    """Whether this request only reads (see the module docstring); decided once per request."""
    decided: bool | None = g.get("is_read_request")
    if decided is None:
        decided = g.is_read_request = request.method in _READ_METHODS or _declared_mode() == "read"
    return decided


def _declared_mode() -> str | None:
    """The mode the view declared with :func:`read_only` or :func:`write`, if any."""
    handler = view_handler(current_app, request.endpoint or "", request.method)
    return getattr(handler, MODE_ATTRIBUTE, None)


def request_connection() -> Connection:
    """The current request's connection, for the statements every request runs (the key lookup,
    the hot reads), opened on first use and closed at teardown."""
    if not is_read_request():
        return request_session().connection()
    connection: Connection | None = g.get("db_connection")
    if connection is None:
        connection = g.db_connection = _database().read_engine.connect()
    return connection


def request_session() -> Session:
    """The current request's ORM session, opened on first use and closed at teardown: on the
    read connection for reads, one transaction for writes."""
    session: Session | None = g.get("db_session")
    if session is None:
        database = _database()
        session = (
            database.read_session(request_connection()) if is_read_request() else database.session()
        )
        g.db_session = session
    return session


def close_request_connections() -> None:
    """Close the current request's session and connection (the next use opens new ones)."""
    session: Session | None = g.pop("db_session", None)
    connection: Connection | None = g.pop("db_connection", None)
    try:
        if session is not None:
            session.close()
    finally:
        if connection is not None:
            connection.close()


# --------------------------------------------------------------------------- @write, @read_only


def write(func: F) -> F:
    """One transaction for the view, committed once it returns a success; ``Idempotency-Key``
    on POST."""
    return _unit_of_work(func, mode="write")


def read_only(func: F) -> F:
    """A non-GET view that only reads: the read connection, nothing to commit;
    ``Idempotency-Key`` on POST (a retry replays the first answer)."""
    return _unit_of_work(func, mode="read")


def _unit_of_work(func: F, *, mode: str) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if request.get_data(cache=True):
            request_json()  # any body must be JSON, also one a view ignores (DELETE): else 400
        claimed = _claim_idempotency_key()
        if isinstance(claimed, Response):
            return claimed
        try:
            response = current_app.make_response(func(*args, **kwargs))
            if response.status_code >= 400:
                _roll_back_and_release(claimed)
                return response
            if claimed is not None:
                headers = {h: v for h in _REPLAYED_HEADERS if (v := response.headers.get(h))}
                idempotency_store.complete(
                    request_session(),
                    claimed,
                    response.status_code,
                    response.get_data(as_text=True),
                    headers,
                )
            if mode == "write":
                request_session().commit()
            return response
        except StaleDataError:
            _roll_back_and_release(claimed)
            abort(412, message="the resource changed concurrently; GET it again and retry")
        except BaseException:
            _roll_back_and_release(claimed)
            raise

    setattr(wrapper, MODE_ATTRIBUTE, mode)
    return wrapper  # type: ignore[return-value]


def _roll_back_and_release(record_id: int | None) -> None:
    """Roll back what the view did, and let a retry with the same key run again."""
    session: Session | None = g.get("db_session")
    if session is not None:
        session.rollback()
    if record_id is None:
        return
    try:
        idempotency_store.release(_database().sessionmaker, record_id)
    except Exception:
        current_app.logger.warning("could not release idempotency claim %s", record_id)


# --------------------------------------------------------------------------- Idempotency-Key


def _claim_idempotency_key() -> int | Response | None:
    """The claimed record's id, a stored response to replay, or None without a key."""
    key = request.headers.get(IDEMPOTENCY_HEADER) if request.method == "POST" else None
    if key is None:
        return None
    if not _valid_key(key):
        abort(400, message=f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable characters")
    ttl = timedelta(hours=current_app.extensions["rolefit.config"].idempotency_ttl_hours)
    try:
        found = idempotency_store.claim(
            _database().sessionmaker, g.principal.key_id, key, _fingerprint(), ttl
        )
    except idempotency_store.OtherRequest:
        abort(422, message=f"this {IDEMPOTENCY_HEADER} was used with a different request")
    except idempotency_store.InFlight:
        abort(409, message="a request with this Idempotency-Key is still in progress")
    if isinstance(found, idempotency_store.Stored):
        response = Response(found.body, status=found.status)
        for name, value in found.headers.items():
            response.headers[name] = value
        response.headers["Idempotent-Replayed"] = "true"
        return response
    return found.record_id


def _valid_key(key: str) -> bool:
    """1..255 printable ASCII characters (inner spaces allowed, none at either end)."""
    return _IDEMPOTENCY_KEY.fullmatch(key) is not None


def _fingerprint() -> str:
    """What makes two requests the same: method, path and the body's JSON value (none for the
    few POSTs that take no body, such as a secret's rotation)."""
    body = request_json() if request.get_data(cache=True) else None
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), canonical):
        digest.update(part + b"\0")
    return digest.hexdigest()


# --------------------------------------------------------------------------- If-Match


def etag_for(version: int | str) -> str:
    """The strong ETag of a resource at ``version``."""
    return f'"{version}"'


def check_if_match(current_etag: str) -> None:
    """PUT and PATCH need ``If-Match``: missing is 428, not an entity-tag list 400, stale 412."""
    header = request.headers.get("If-Match")
    if header is None:
        abort(428, message="send If-Match with the ETag from your last GET of this resource")
    if not _IF_MATCH.fullmatch(header):
        abort(400, message='If-Match must be * or a list of entity tags, e.g. "3"')
    offered = {tag.strip() for tag in header.split(",")}
    weak_stripped = {tag.removeprefix("W/") for tag in offered}
    if "*" not in offered and current_etag not in weak_stripped:
        abort(412, message="the resource changed since you read it; GET it again and retry")
