"""API keys: creation, verification, listing and revocation, plus the scope presets.

A key reads ``rf_<prefix>_<secret>``. Only the prefix (for lookup) and a SHA-256 of the whole
token are stored; the token itself is shown once, at creation. Tokens carry 256 bits of
randomness, so a fast hash is enough (no password-style stretching is needed) and comparison is
constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db import utcnow
from service.domain.errors import Invalid, NotFound
from service.models import ApiKey

SCOPES: tuple[str, ...] = (
    "roles:read",
    "roles:write",
    "candidates:read",
    "candidates:write",
    "candidates:pii",
    "candidates:erase",
    "matches:read",
    "audit:read",
    "keys:admin",
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
        }
    ),
    "recruiter": frozenset(
        {"roles:read", "candidates:read", "candidates:write", "candidates:pii", "matches:read"}
    ),
    "dashboard": frozenset({"roles:read", "candidates:read", "matches:read"}),
}

# last_used_at is written at most this often per key, so authentication stays one read.
LAST_USED_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of one request."""

    key_id: str
    name: str
    scopes: frozenset[str]
    last_used_at: datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal for a bearer token, or None when it is malformed, unknown or revoked."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "rf" or len(parts[1]) != 12:
        return None
    row = session.execute(
        select(
            ApiKey.id,
            ApiKey.name,
            ApiKey.scopes,
            ApiKey.secret_hash,
            ApiKey.revoked_at,
            ApiKey.last_used_at,
        ).where(ApiKey.prefix == parts[1])
    ).first()
    if row is None or not hmac.compare_digest(row.secret_hash, _hash(token)):
        return None
    if row.revoked_at is not None:
        return None
    return Principal(row.id, row.name, frozenset(row.scopes.split()), row.last_used_at)


def touch(session: Session, principal: Principal) -> bool:
    """Record use of a key, at most once per ``LAST_USED_RESOLUTION``. True when written."""
    now = utcnow()
    if principal.last_used_at and now - principal.last_used_at < LAST_USED_RESOLUTION:
        return False
    session.execute(update(ApiKey).where(ApiKey.id == principal.key_id).values(last_used_at=now))
    return True


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key; every worker refuses it from its next request (nothing is cached)."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id!r}")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key
