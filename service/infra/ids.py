"""Time-ordered UUIDs (RFC 9562 version 7) for candidate ids."""

from __future__ import annotations

import os
import time
import uuid

_last_uuid7 = [0, 0]  # [millisecond, 12-bit sequence] of this process's last id


def uuid7() -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7), increasing within this process.

    Candidate ids sort by creation time, so keyset pages on ``id`` come out in the order rows were
    created and the primary-key index stays append-mostly. Within one millisecond a 12-bit
    sequence keeps a process's ids in order (RFC 9562, method 1).
    """
    ms = time.time_ns() // 1_000_000
    last_ms, sequence = _last_uuid7
    if ms <= last_ms:
        ms, sequence = last_ms, sequence + 1
        if sequence > 0xFFF:
            ms, sequence = last_ms + 1, 0
    else:
        sequence = int.from_bytes(os.urandom(2), "big") & 0x7FF  # room to count up
    _last_uuid7[:] = [ms, sequence]
    rand = int.from_bytes(os.urandom(8), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= sequence << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def event_id() -> str:
    """``evt_`` and 26 Crockford base32 letters of a :func:`uuid7` (ULID-like: sorts by time)."""
    value = uuid7().int
    letters = []
    for _ in range(26):
        value, digit = divmod(value, 32)
        letters.append(_CROCKFORD[digit])
    return "evt_" + "".join(reversed(letters))
