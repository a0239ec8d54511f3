"""Configuration comes from ROLEFIT_* variables with safe defaults."""

from __future__ import annotations

from pathlib import Path

from service import create_app
from service.config import Config


def test_defaults_are_safe_for_a_laptop(monkeypatch, tmp_path) -> None:
    for name in ("ROLEFIT_DATABASE_URL", "ROLEFIT_REDIS_URL", "ROLEFIT_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    config = Config.from_env()
    assert config.database_url == f"sqlite:///{Path(tmp_path) / 'var' / 'rolefit.db'}"
    assert config.redis_url is None
    assert config.rate_limit == 0


def test_environment_overrides(monkeypatch) -> None:
    monkeypatch.setenv("ROLEFIT_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("ROLEFIT_REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("ROLEFIT_RATE_LIMIT", "120")
    monkeypatch.setenv("ROLEFIT_LOG_LEVEL", "debug")
    config = Config.from_env()
    assert config.database_url.startswith("postgresql+psycopg://")
    assert config.redis_url == "redis://127.0.0.1:6379/0"
    assert config.rate_limit == 120
    assert config.log_level == "DEBUG"


def test_factory_builds_without_connecting(monkeypatch) -> None:
    app = create_app(Config(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    assert not app.debug
    assert app.extensions["rolefit.db"].engine.pool.checkedout() == 0


def test_failed_authentications_are_limited_by_default(monkeypatch) -> None:
    for name in ("ROLEFIT_AUTH_FAILURE_LIMIT", "ROLEFIT_FORWARDED_ALLOW_IPS"):
        monkeypatch.delenv(name, raising=False)
    config = Config.from_env()
    assert (config.auth_failure_limit, config.auth_failure_window) == (30, 60)
    assert config.forwarded_allow_ips == "127.0.0.1"
    monkeypatch.setenv("ROLEFIT_AUTH_FAILURE_LIMIT", "0")
    monkeypatch.setenv("ROLEFIT_FORWARDED_ALLOW_IPS", "10.0.0.0/8")
    config = Config.from_env()
    assert config.auth_failure_limit == 0 and config.forwarded_allow_ips == "10.0.0.0/8"
