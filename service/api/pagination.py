"""Keyset (cursor) pagination for every list.

A cursor is the sort key of the last item of a page, encoded as opaque base64url JSON together
with the name of the list it belongs to. Because the next page starts strictly after that key,
walking the pages while rows are inserted or deleted never repeats an item and never skips one
that existed throughout. A cursor that does not decode to a key of the right shape is a 400.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import urlencode

from flask import request

from service.api.errors import abort

CURSOR_VERSION = 1
MAX_CURSOR_LENGTH = 512
# Bounds on a cursor's parts: anything a real page could have produced fits, and anything
# outside would fail in the database (integer overflow, NUL in text) instead of as a 400.
_MAX_TEXT_PART = 255
_MAX_INT_PART = 2**31 - 1
_INVALID = "the cursor is invalid or belongs to another list; start from page one"


def _valid_part(value: Any, kind: type) -> bool:
    if type(value) is not kind:  # exact: a bool is not an int here
        return False
    if isinstance(value, int):
        return 0 <= value <= _MAX_INT_PART
    if isinstance(value, str):
        return len(value) <= _MAX_TEXT_PART and value.isprintable()
    return True


LINK_HEADER = {
    "Link": {
        "description": 'The next page, `<...>; rel="next"`; absent on the last page',
        "schema": {"type": "string"},
    }
}


def encode_cursor(list_name: str, key: Sequence[Any]) -> str:
    raw = json.dumps({"v": CURSOR_VERSION, "l": list_name, "k": list(key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, list_name: str, types: Sequence[type]) -> list[Any]:
    """The key in ``cursor``; 400 unless it is this list's and every part has the right type."""
    key: Any = None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        valid = (
            len(cursor) <= MAX_CURSOR_LENGTH
            and isinstance(data, dict)
            and data.get("v") == CURSOR_VERSION
            and data.get("l") == list_name
            and isinstance(key := data.get("k"), list)
            and len(key) == len(types)
            and all(_valid_part(v, t) for v, t in zip(key, types, strict=True))
        )
    except (ValueError, TypeError, UnicodeError, RecursionError, binascii.Error):
        valid = False
    if not valid:
        invalid_cursor()
    return list(key)


def invalid_cursor() -> NoReturn:
    """Refuse the request's cursor: a 400 (start from page one)."""
    abort(400, message=_INVALID)


def parse_uuid_cursor(value: str) -> uuid.UUID:
    """A UUID cursor part; 400 when it is not one."""
    try:
        return uuid.UUID(value)
    except ValueError:
        invalid_cursor()


def parse_instant_cursor(value: str) -> datetime:
    """A timestamp cursor part (ISO 8601 with an offset); 400 when it is not one."""
    try:
        instant = datetime.fromisoformat(value)
        instant.astimezone(UTC)  # one with no UTC equivalent (year 1 at +01:00) names nothing
    except (ValueError, OverflowError):
        invalid_cursor()
    if instant.tzinfo is None:
        invalid_cursor()
    return instant


def page_response(
    items: list[Any], limit: int, list_name: str, key_of: Callable[[Any], Sequence[Any]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Build ``{"data", "next_cursor"}`` and the ``Link`` header from ``limit + 1`` fetched rows."""
    has_more = len(items) > limit
    items = items[:limit]
    next_cursor = encode_cursor(list_name, key_of(items[-1])) if has_more and items else None
    headers: dict[str, str] = {}
    if next_cursor:
        args = request.args.to_dict(flat=True)
        args["cursor"] = next_cursor
        headers["Link"] = f'<{request.path}?{urlencode(args)}>; rel="next"'
    return {"next_cursor": next_cursor, "data": items}, headers
