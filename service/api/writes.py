"""The request-scope transaction of every write, optimistic concurrency, and idempotency.

Views that write are decorated with :func:`write`: the view adds and flushes, the decorator
commits once when the view returns (or rolls back when it raises). For POST it also implements
``Idempotency-Key``: the key is claimed in its own short transaction (so a concurrent retry sees
it and gets a 409), and the response is stored in the *same* transaction as the view's writes, so
an acknowledged write and its replayable response are committed together or not at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

import orjson
from flask import Response, current_app, g, request
from flask_smorest import abort
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from service.api.errors import PROBLEM_MIMETYPE
from service.api.schemas import ProblemSchema
from service.db import Database, request_session, utcnow
from service.models import IdempotencyRecord

F = TypeVar("F", bound=Callable[..., Any])

IDEMPOTENCY_HEADER = "Idempotency-Key"
# The deepest body a client needs is a batch: {"candidates": [{"competencies": [{...}]}]}.
MAX_JSON_DEPTH = 32
# A claim older than this whose request never finished (worker killed, database gone) is
# abandoned: the next retry takes it over. Longer than gunicorn's worker timeout.
ABANDONED_AFTER = timedelta(seconds=35)
_REPLAYED_HEADERS = ("Location", "ETag", "Content-Type")


IF_MATCH_PARAMETER = {
    "in": "header",
    "name": "If-Match",
    "required": True,
    "schema": {"type": "string"},
    "description": "The ETag of your last GET of this resource: missing is a 428, stale a 412",
}
IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": (
        "1..255 printable ASCII characters, scoped to your API key and kept 24 h. A retry with the "
        "same key and body replays the first response with `Idempotent-Replayed: true`"
    ),
}
ETAG_HEADER = {
    "ETag": {
        "description": "For If-Match on PUT/PATCH",
        "required": True,
        "schema": {"type": "string"},
    }
}
LOCATION_HEADER = {
    "Location": {"description": "The new resource", "required": True, "schema": {"type": "string"}}
}
REPLAYED_HEADER = {
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored response of an earlier request",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def problem_doc(blp: Any, status: int, description: str) -> Callable[[F], F]:
    """Document an error response of a view as a problem+json document."""
    decorator: Callable[[F], F] = blp.alt_response(
        status, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE, description=description
    )
    return decorator


def if_match_doc(blp: Any) -> Callable[[F], F]:
    """Document ``If-Match`` and its 412 / 428 on a PUT or PATCH view."""

    def decorator(func: F) -> F:
        func = problem_doc(blp, 412, "If-Match is stale: nothing was written")(func)
        func = problem_doc(blp, 428, "If-Match is missing")(func)
        documented: F = blp.doc(parameters=[IF_MATCH_PARAMETER])(func)
        return documented

    return decorator


def idempotency_doc(blp: Any, conflict: str | None = None) -> Callable[[F], F]:
    """Document ``Idempotency-Key`` and its outcomes on a POST view.

    ``conflict`` describes the view's own 409, if it has one (one status, one description).
    """
    in_flight = "the first request with this Idempotency-Key is still in flight"

    def decorator(func: F) -> F:
        func = problem_doc(blp, 400, "Idempotency-Key is not 1..255 printable characters")(func)
        func = problem_doc(blp, 409, f"{conflict}; or {in_flight}" if conflict else in_flight)(func)
        documented: F = blp.doc(parameters=[IDEMPOTENCY_PARAMETER])(func)
        return documented

    return decorator


def etag_for(version: int | str) -> str:
    return f'"{version}"'


def check_if_match(current_etag: str) -> None:
    """PUT and PATCH need ``If-Match``: missing is 428, stale is 412."""
    header = request.headers.get("If-Match")
    if header is None:
        abort(428, message="send If-Match with the ETag from your last GET of this resource")
    offered = {tag.strip() for tag in header.split(",")}
    weak_stripped = {tag.removeprefix("W/") for tag in offered}
    if "*" not in offered and current_etag not in weak_stripped:
        abort(412, message="the resource changed since you read it; GET it again and retry")


def check_json_body() -> None:
    """400 unless the body is plain RFC 8259 JSON that every later step can handle.

    The standard library's parser (webargs uses it) accepts ``NaN`` and ``Infinity``, turns an
    integer literal of any size into an int (a ``float()`` of it overflows; over 4300 digits it
    raises), and recurses once per nesting level, so a body of ``[[[[...`` 10,000 deep raises
    RecursionError: each of those was a 500. orjson refuses all of them (and invalid UTF-8), in
    C; when it refuses a body, :func:`_strict_stdlib_loads` has the last word, so that a lone
    surrogate (``"\\ud800"``, which orjson refuses too) still reaches the schema and gets a
    422 naming its field. The depth check keeps accepted bodies far from any recursion limit.
    An empty body is left to the schema (missing required fields: a 422).
    """
    raw = request.get_data(cache=True)
    if not raw:
        return
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        try:
            value = _strict_stdlib_loads(raw)
        except (ValueError, RecursionError) as error:
            reason = f"the body is not valid JSON: {_reason(error)}"
            abort(400, message=reason, messages={"json": {"_schema": [reason]}})
    # Fewer brackets than the limit cannot nest past it: most bodies skip the walk.
    brackets = raw.count(b"[") + raw.count(b"{")
    if brackets > MAX_JSON_DEPTH and _depth_over(value, MAX_JSON_DEPTH):
        reason = f"the body is nested more than {MAX_JSON_DEPTH} levels deep"
        abort(400, message=reason, messages={"json": {"_schema": [reason]}})
    g.json_body = value  # webargs and the idempotency fingerprint reuse it


def _reason(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return "nested too deeply"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8"
    return error.msg if isinstance(error, json.JSONDecodeError) else str(error)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:20]}... is too large")
    return number


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 308:  # 10**308 and up: float() of it is at the edge or beyond
        raise ValueError(f"the number {text[:20]}... is too large")
    return int(text)


def _strict_stdlib_loads(raw: bytes) -> Any:
    return json.loads(
        raw.decode("utf-8"),
        parse_constant=_reject_constant,
        parse_float=_finite_float,
        parse_int=_bounded_int,
    )


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests containers more than ``limit`` deep (level by level: no recursion;
    about 2 ms for a full 500-candidate batch)."""
    level = [value]
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        deeper: list[Any] = []
        for item in level:
            children = item.values() if type(item) is dict else item
            deeper += [c for c in children if type(c) is dict or type(c) is list]
        level = deeper
    return False


def _fingerprint() -> str:
    body = request.get_data(cache=True)
    if "json_body" in g:
        canonical = json.dumps(g.json_body, sort_keys=True, separators=(",", ":")).encode()
    else:
        canonical = body
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.path.encode(), canonical):
        digest.update(part + b"\0")
    return digest.hexdigest()


def _valid_key(key: str) -> bool:
    """1..255 printable ASCII characters (inner spaces allowed, none at either end)."""
    return 1 <= len(key) <= 255 and key.strip() == key and all(32 <= ord(ch) < 127 for ch in key)


def _replay(record: IdempotencyRecord) -> Response:
    response = Response(record.response_body, status=record.response_status)
    for name, value in json.loads(record.response_headers or "{}").items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response


def _claim(key: str, fingerprint: str) -> int | Response:
    """Claim ``key`` for this request: the record id, or the response to send instead."""
    database: Database = current_app.extensions["rolefit.db"]
    key_id = g.principal.key_id
    ttl = timedelta(hours=current_app.extensions["rolefit.config"].idempotency_ttl_hours)
    for _attempt in range(3):
        now = utcnow()
        with database.session() as session:
            record = session.scalar(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.api_key_id == key_id, IdempotencyRecord.key == key
                )
            )
            if record is None:
                record = IdempotencyRecord(
                    api_key_id=key_id,
                    key=key,
                    fingerprint=fingerprint,
                    created_at=now,
                    expires_at=now + ttl,
                )
                session.add(record)
                try:
                    session.commit()
                except IntegrityError:
                    session.rollback()
                    continue  # another request claimed it first: look again
                return record.id
            if record.expires_at <= now:
                session.delete(record)
                session.commit()
                continue
            if record.fingerprint != fingerprint:
                abort(422, message=f"this {IDEMPOTENCY_HEADER} was used with a different request")
            if record.response_status is not None:
                return _replay(record)
            if now - record.created_at < ABANDONED_AFTER:
                abort(409, message="a request with this Idempotency-Key is still in progress")
            taken = session.execute(
                update(IdempotencyRecord)
                .where(
                    IdempotencyRecord.id == record.id,
                    IdempotencyRecord.created_at == record.created_at,
                    IdempotencyRecord.response_status.is_(None),
                )
                .values(created_at=now)
            ).rowcount
            session.commit()
            if taken:
                return record.id
    abort(409, message="a request with this Idempotency-Key is still in progress")
    raise AssertionError("unreachable")


def _release(record_id: int) -> None:
    """Forget a claim whose request failed, so that a retry runs it again.

    Only while it holds no response: if the commit did happen and only its acknowledgement was
    lost, the stored response stays, and the retry replays it instead of writing twice.
    """
    database: Database = current_app.extensions["rolefit.db"]
    try:
        with database.session() as session:
            session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == record_id, IdempotencyRecord.response_status.is_(None)
                )
            )
            session.commit()
    except Exception:
        current_app.logger.warning("could not release idempotency claim %s", record_id)


def write(func: F) -> F:
    """Commit the view's writes once it returns; for POST, honour ``Idempotency-Key``."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        check_json_body()
        key = request.headers.get(IDEMPOTENCY_HEADER) if request.method == "POST" else None
        record_id: int | None = None
        if key is not None:
            if not _valid_key(key):
                abort(400, message=f"{IDEMPOTENCY_HEADER} must be 1 to 255 printable characters")
            claimed = _claim(key, _fingerprint())
            if isinstance(claimed, Response):
                return claimed
            record_id = claimed
        # A read-only view (@read_only) opens no session unless it needs one.
        session = None if g.get("read_only") and record_id is None else request_session()
        try:
            result = func(*args, **kwargs)
            response = current_app.make_response(result)
            if response.status_code >= 400:
                raise _Unsuccessful(response)
            if record_id is not None:
                headers = {
                    h: response.headers[h] for h in _REPLAYED_HEADERS if h in response.headers
                }
                request_session().execute(
                    update(IdempotencyRecord)
                    .where(IdempotencyRecord.id == record_id)
                    .values(
                        response_status=response.status_code,
                        response_body=response.get_data(as_text=True),
                        response_headers=json.dumps(headers),
                    )
                )
            if session is not None and not g.get("read_only"):  # autocommit: nothing left
                session.commit()
            return response
        except _Unsuccessful as failed:
            if session is not None:
                session.rollback()
            if record_id is not None:
                _release(record_id)
            return failed.response
        except StaleDataError:
            if session is not None:
                session.rollback()
            if record_id is not None:
                _release(record_id)
            abort(412, message="the resource changed concurrently; GET it again and retry")
        except BaseException:
            if session is not None:
                session.rollback()
            if record_id is not None:
                _release(record_id)
            raise

    return wrapper  # type: ignore[return-value]


class _Unsuccessful(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def purge_expired_idempotency_records(session: Any) -> int:
    """Delete records past their expiry; returns how many (``rolefit maintenance`` runs it)."""
    result = session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= utcnow())
    )
    return int(result.rowcount or 0)
