"""openapi.yaml at the repository root is exactly what the code generates."""

from __future__ import annotations

from flask import Flask

from tests.conftest import REPO_ROOT


def test_committed_openapi_matches_the_code(app: Flask) -> None:
    generated = app.extensions["rolefit.api"].spec.to_yaml()
    committed = (REPO_ROOT / "openapi.yaml").read_text(encoding="utf-8")
    assert committed == generated, "openapi.yaml is stale: run `make openapi`"
