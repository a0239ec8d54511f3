"""API keys: creation, verification, listing and revocation, plus the scope presets.

A key reads ``rf_<prefix>_<secret>``. Only the prefix (for lookup) and a SHA-256 of the whole
token are stored; the token itself is shown once, at creation. Tokens carry 256 bits of
randomness, so a fast hash is enough (no password-style stretching is needed) and comparison is
constant-time.

Workers keep the keys they verified in a cache (:mod:`service.infra.key_cache`, keyed by the
token's hash): :func:`authenticate_cached` answers from it when it may, and only otherwise runs
:func:`authenticate`'s query. Every change of a key is announced to the caches when it commits
(:mod:`service.models.apikey`), so a revoked key is refused within 1 s on every worker and
instance, and at once while the cache's listener is connected.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.orm import Session

from service.domain import catalog
from service.domain.errors import Invalid, NotFound
from service.infra.driver_query import DriverQuery
from service.infra.key_cache import KeyCache
from service.infra.orm import utcnow
from service.models import ApiKey

SCOPES: tuple[str, ...] = (
    "roles:read",
    "roles:write",
    "candidates:read",
    "candidates:write",
    "candidates:pii",
    "candidates:erase",
    "matches:read",
    "pipeline:read",
    "pipeline:write",
    "audit:read",
    "keys:admin",
    "demographics:write",
    "events:read",
    "webhooks:admin",
)

PRESETS: dict[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "hr-system": frozenset(
        {
            "roles:read",
            "candidates:read",
            "candidates:write",
            "candidates:pii",
            "candidates:erase",
            "matches:read",
            "pipeline:read",
            "pipeline:write",
            "demographics:write",
            "events:read",
            "webhooks:admin",
        }
    ),
    "recruiter": frozenset(
        {
            "roles:read",
            "candidates:read",
            "candidates:write",
            "candidates:pii",
            "matches:read",
            "pipeline:read",
            "pipeline:write",
        }
    ),
    "dashboard": frozenset(
        {"roles:read", "candidates:read", "matches:read", "pipeline:read", "events:read"}
    ),
    # An independent auditor: scores and the pipeline's facts, bias audits; no contact fields,
    # no writes of candidates (accountability.md).
    "auditor": frozenset({"roles:read", "matches:read", "pipeline:read", "audit:read"}),
}

# last_used_at is written at most this often per key and worker, so authentication stays one
# read at most (none at all for a cached key).
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request.

    ``catalog_token`` is the catalog's state token (see :mod:`service.domain.catalog`), read in
    the same round trip as the key so that requests reuse the cached catalog for free.
    """

    key_id: str
    name: str
    scopes: frozenset[str]
    last_used_at: datetime | None
    catalog_token: str | None = None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_hash(token: str) -> str:
    """What a token is known by, stored and cached: its SHA-256, in hex."""
    return _hash(token)


def create_key(session: Session, *, name: str, preset: str) -> tuple[ApiKey, str]:
    """Add a key and return it with its token (the only time the token exists)."""
    if preset not in PRESETS:
        raise Invalid(
            f"unknown preset {preset!r}", {"preset": [f"one of {', '.join(sorted(PRESETS))}"]}
        )
    name = name.strip()
    if not name or len(name) > 200:
        raise Invalid("a key needs a name of 1 to 200 characters", {"name": ["1..200 chars"]})
    prefix = secrets.token_hex(6)
    token = f"rf_{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(
        id=f"key_{prefix}",
        name=name,
        preset=preset,
        scopes=" ".join(sorted(PRESETS[preset])),
        prefix=prefix,
        secret_hash=_hash(token),
        created_at=utcnow(),
    )
    session.add(key)
    session.flush()
    return key, token


_KEYS = ApiKey.__table__
# Runs on every request: built and compiled once, run on the driver's cursor (statement
# construction, ORM row loading and Core execution would each cost as much as the round trip).
_KEY_LOOKUP = DriverQuery(
    select(
        _KEYS.c.id,
        _KEYS.c.name,
        _KEYS.c.scopes,
        _KEYS.c.secret_hash,
        _KEYS.c.revoked_at,
        _KEYS.c.last_used_at,
        catalog.token_query(),
    ).where(_KEYS.c.prefix == bindparam("prefix"))
)


def authenticate(connection: Connection, token: str) -> Principal | None:
    """The principal for a bearer token, or None when it is malformed, unknown or revoked."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "rf" or len(parts[1]) != 12:
        return None
    rows = _KEY_LOOKUP.rows(connection, {"prefix": parts[1]})
    row = rows[0] if rows else None
    if row is None or not hmac.compare_digest(row[3], _hash(token)):
        return None
    if row[4] is not None:
        return None
    return Principal(row[0], row[1], frozenset(row[2].split()), row[5], row[6])


def authenticate_cached(
    cache: KeyCache[Principal], token: str, lookup: Callable[[], Principal | None]
) -> Principal | None:
    """The principal for ``token`` from the worker's cache, else from ``lookup()`` (which runs
    :func:`authenticate`), caching a verified key for the next requests.

    A cached principal carries the catalog token the cache's listener knows now, not the one
    read with the key.
    """
    digest = _hash(token)
    found = cache.get(digest)
    if found is not None:
        principal, catalog_token = found
        return replace(principal, catalog_token=catalog_token)
    ticket = cache.ticket()
    verified = lookup()
    if verified is not None:
        cache.put(ticket, digest, verified.key_id, verified)
    return verified


def record_use(cache: KeyCache[Principal], token: str, principal: Principal) -> None:
    """After :func:`touch` committed: the cached principal knows its new last use, so the next
    requests do not write it again before :data:`LAST_USED_RESOLUTION` has passed."""
    cache.replace(_hash(token), replace(principal, last_used_at=utcnow()))


def use_worth_recording(principal: Principal) -> bool:
    """Whether ``last_used_at`` is old enough to be written again (at most once a minute)."""
    last = principal.last_used_at
    return last is None or utcnow() - last >= LAST_USED_RESOLUTION


def touch(session: Session, key_id: str) -> None:
    """Record that a key was used now."""
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key; announced to every worker's key cache when the transaction commits."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
