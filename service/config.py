"""Configuration, read only from ``ROLEFIT_*`` environment variables.

Defaults are safe for a laptop: an SQLite file under ``var/``, per-key rate limits off (the
limit on failed authentications per address on), INFO logs.
Every variable is listed in the README's configuration table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _default_database_url() -> str:
    return f"sqlite:///{Path.cwd() / 'var' / 'rolefit.db'}"


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    return default if raw in (None, "") else float(raw)


@dataclass
class Config:
    """Settings of one service instance. Build it with :meth:`from_env`."""

    database_url: str = field(default_factory=_default_database_url)
    # Straight to PostgreSQL, for the key cache's LISTEN (a transaction pooler such as PgBouncer
    # cannot carry one); None: the same as database_url.
    database_direct_url: str | None = None
    # database_url goes through a transaction-mode pooler (PgBouncer): no server-side prepared
    # statements, no per-connection options (see service.infra.database.make_engine).
    database_transaction_pooler: bool = False
    redis_url: str | None = None
    log_level: str = "INFO"
    log_format: str = "auto"  # json, console, or auto (console on a terminal)
    # Requests per window for each API key; 0 turns rate limiting off.
    rate_limit: int = 0
    rate_limit_window: int = 60
    rate_limit_strategy: str = "fixed"  # or "sliding"
    # Failed authentications (401s) allowed per client address and window before the address
    # is refused (429) without its key being looked up; 0 turns it off.
    auth_failure_limit: int = 30
    auth_failure_window: int = 60
    # The proxies whose X-Forwarded-For is believed (gunicorn.conf.py reads the same variable).
    forwarded_allow_ips: str = "127.0.0.1"
    # Read events of the audit trail are buffered and written in batches: every this many
    # seconds or events, whichever comes first. 0 writes each before the response is sent.
    audit_flush_seconds: float = 1.0
    audit_batch_size: int = 200
    statement_timeout_ms: int = 5000
    # The statement timeout of a role's rescoring (every candidate, inside the role's PUT):
    # sized for ten million candidates (see README, "Scale").
    rescore_timeout_seconds: int = 600
    pool_size: int = 5
    max_body_bytes: int = 1024 * 1024
    idempotency_ttl_hours: int = 24
    testing: bool = False
    # Encrypts the webhook endpoints' signing secrets at rest; webhooks refuse to work without
    # it (outside tests). `make run` keeps a generated one in var/.
    secret_key: str | None = None
    webhooks_allow_http: bool = False
    webhooks_allow_private: bool = False
    events_retention_days: int = 30

    @classmethod
    def from_env(cls) -> Config:
        """Read every ``ROLEFIT_*`` variable, falling back to the defaults above."""
        return cls(
            database_url=os.environ.get("ROLEFIT_DATABASE_URL") or _default_database_url(),
            database_direct_url=os.environ.get("ROLEFIT_DATABASE_DIRECT_URL") or None,
            database_transaction_pooler=_env_bool("ROLEFIT_DATABASE_TRANSACTION_POOLER", False),
            redis_url=os.environ.get("ROLEFIT_REDIS_URL") or None,
            log_level=os.environ.get("ROLEFIT_LOG_LEVEL", "INFO").upper(),
            log_format=os.environ.get("ROLEFIT_LOG_FORMAT", "auto").lower(),
            rate_limit=_env_int("ROLEFIT_RATE_LIMIT", 0),
            rate_limit_window=_env_int("ROLEFIT_RATE_LIMIT_WINDOW", 60),
            rate_limit_strategy=os.environ.get("ROLEFIT_RATE_LIMIT_STRATEGY", "fixed").lower(),
            auth_failure_limit=_env_int("ROLEFIT_AUTH_FAILURE_LIMIT", 30),
            auth_failure_window=_env_int("ROLEFIT_AUTH_FAILURE_WINDOW", 60),
            forwarded_allow_ips=os.environ.get("ROLEFIT_FORWARDED_ALLOW_IPS") or "127.0.0.1",
            audit_flush_seconds=_env_float("ROLEFIT_AUDIT_FLUSH_SECONDS", 1.0),
            audit_batch_size=_env_int("ROLEFIT_AUDIT_BATCH_SIZE", 200),
            statement_timeout_ms=_env_int("ROLEFIT_STATEMENT_TIMEOUT_MS", 5000),
            rescore_timeout_seconds=_env_int("ROLEFIT_RESCORE_TIMEOUT_SECONDS", 600),
            pool_size=_env_int("ROLEFIT_DB_POOL_SIZE", 5),
            idempotency_ttl_hours=_env_int("ROLEFIT_IDEMPOTENCY_TTL_HOURS", 24),
            testing=_env_bool("ROLEFIT_TESTING", False),
            secret_key=os.environ.get("ROLEFIT_SECRET_KEY") or None,
            webhooks_allow_http=_env_bool("ROLEFIT_WEBHOOKS_ALLOW_HTTP", False),
            webhooks_allow_private=_env_bool("ROLEFIT_WEBHOOKS_ALLOW_PRIVATE", False),
            events_retention_days=_env_int("ROLEFIT_EVENTS_RETENTION_DAYS", 30),
        )
