"""schemathesis hooks: requests shaped as a real client sends them.

Loaded by the suite's fuzz test and by an outside run (``SCHEMATHESIS_HOOKS=tests.contract_hooks``,
see schemathesis.toml). Only positive cases (valid by the document) are touched, and only where
validity depends on stored data or on values only the service issues; negative cases are sent
exactly as generated.

- Competency and role references name built-in ones, each at most once in a list (so a list
  holds at most as many records as there are competencies): a random string names nothing,
  and every such request would stop at a documented 422.
- Stage names are unique within a job (a generator repeats short names), and an ``applied_at``
  is not in the future (a rule of the clock, which no schema states).
- An ``external_id`` comes with a ``source`` (on PATCH the rule involves the stored source, so
  the document states it in prose).
- A generated ``cursor`` is dropped: cursors are opaque and issued by the service
  (``next_cursor``); a made-up one is a documented 400.
- Every ``Idempotency-Key`` is fresh: the generator repeats short values ("0"), and one key with
  two bodies is a documented 422.
- A webhook recovery's ``since`` is not in the future.
"""

from __future__ import annotations

import uuid
import zlib
from datetime import UTC, datetime
from functools import cache
from typing import Any

import schemathesis

from service.domain.builtin import builtin_data


@cache
def _keys() -> tuple[list[str], list[str]]:
    data = builtin_data()
    return (
        sorted(item["key"] for item in data["competencies"]),
        sorted(item["key"] for item in data["roles"]),
    )


def realistic(body: Any) -> Any:
    """``body`` with references to things that exist (see the module docstring)."""
    if isinstance(body, list):
        return [realistic(item) for item in body]
    if not isinstance(body, dict):
        return body
    competencies, roles = _keys()
    mapped = {key: realistic(value) for key, value in body.items()}
    for key in ("competencies", "responsibilities"):
        items = mapped.get(key)
        if isinstance(items, list) and items:
            items = mapped[key] = items[: len(competencies)]
            start = zlib.crc32(repr(items[0]).encode())
            for index, item in enumerate(items):
                if isinstance(item, dict) and isinstance(item.get("competency"), str):
                    item["competency"] = competencies[(start + index) % len(competencies)]
    wanted = mapped.get("roles")
    if isinstance(wanted, list) and all(isinstance(r, str) for r in wanted):
        mapped["roles"] = roles[: max(1, min(len(wanted), len(roles)))]
    if _in_the_future(mapped.get("applied_at")):
        mapped["applied_at"] = "2025-06-01T09:00:00Z"
    stages = mapped.get("stages")
    if isinstance(stages, list):
        for index, stage in enumerate(stages):
            if isinstance(stage, dict) and isinstance(stage.get("name"), str):
                stage["name"] = f"{stage['name'][:90]} #{index}"
    if mapped.get("external_id") is not None and mapped.get("source") is None:
        mapped["source"] = "fuzz"
    if _in_the_future(mapped.get("since")):
        mapped["since"] = "2025-06-01T09:00:00Z"
    return mapped


def _in_the_future(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value) > datetime.now(UTC)
    except (ValueError, TypeError):  # not a time, or one without an offset: left as generated
        return False


def _positive(case: Any) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


@schemathesis.hook
def map_case(context: Any, case: Any) -> Any:
    if not _positive(case):
        return case
    if isinstance(case.body, dict):
        case.body = realistic(case.body)
    if case.query and "cursor" in case.query:
        case.query = {k: v for k, v in case.query.items() if k != "cursor"}
    return case


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    if "Idempotency-Key" in headers and _positive(case):
        headers["Idempotency-Key"] = uuid.uuid4().hex
