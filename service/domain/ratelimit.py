"""Rate limits per API key: a quota of requests per window, counted where every worker sees it.

Counters live in Redis or in the database (:mod:`service.infra.rate_limit_counters`); either
way every worker of every instance shares them.

Two strategies:

- ``fixed``: at most ``limit`` requests in each window ``[k * window, (k + 1) * window)``.
  Simple and exact, but a client can spend two quotas around a window boundary.
- ``sliding``: the usual sliding-window estimate, ``previous * (1 - elapsed / window) +
  current``, must stay within ``limit``; a refused request is taken back, so a client that
  keeps retrying is not locked out longer than one that waits.

When the counter store cannot be reached the request is let through (and a warning logged at
most once a minute): rate limiting protects availability, so it must not take it away.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Protocol

import structlog

STRATEGIES: tuple[str, ...] = ("fixed", "sliding")
POLICY = "default"
_WARN_EVERY_SECONDS = 60.0

log = structlog.get_logger("rolefit.ratelimit")


@dataclass(frozen=True)
class Decision:
    """The verdict on one request, and what the ``RateLimit`` headers should say."""

    allowed: bool
    limit: int
    window: int
    remaining: int
    reset: int  # seconds until more quota is available (fixed: until the window ends)
    retry_after: int | None  # set when refused

    def headers(self) -> dict[str, str]:
        """``RateLimit-Policy`` and ``RateLimit`` (draft-ietf-httpapi-ratelimit-headers-09),
        plus ``Retry-After`` when refused."""
        values = {
            "RateLimit-Policy": f'"{POLICY}";q={self.limit};w={self.window}',
            "RateLimit": f'"{POLICY}";r={self.remaining};t={self.reset}',
        }
        if self.retry_after is not None:
            values["Retry-After"] = str(self.retry_after)
        return values


class Counters(Protocol):
    """Where the hits are counted."""

    def hit(
        self, key_id: str, window_start: int, window: int, *, previous: bool
    ) -> tuple[int, int]:
        """Count one hit; returns (hits in this window, hits in the previous one if asked)."""

    def undo(self, key_id: str, window_start: int) -> None:
        """Take back one hit of this window."""


class RateLimiter:
    """``limit`` requests per ``window`` seconds for each API key."""

    def __init__(
        self, counters: Counters, *, limit: int, window: int, strategy: str = "fixed"
    ) -> None:
        if limit < 1 or window < 1:
            raise ValueError("a rate limit needs limit >= 1 and window >= 1 second")
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown rate-limit strategy {strategy!r}; one of {STRATEGIES}")
        self.counters = counters
        self.limit = limit
        self.window = window
        self.sliding = strategy == "sliding"
        self._warned_at = -math.inf

    def check(self, key_id: str, now: float | None = None) -> Decision | None:
        """Count this request of ``key_id`` and decide; None when the counters are unreachable."""
        now = time.time() if now is None else now
        window = self.window
        start = int(now // window) * window
        elapsed = now - start
        try:
            current, previous = self.counters.hit(key_id, start, window, previous=self.sliding)
        except Exception as error:
            self._warn(error)
            return None
        if not self.sliding:
            allowed = current <= self.limit
            reset = max(1, math.ceil(window - elapsed))
            return Decision(
                allowed,
                self.limit,
                window,
                max(0, self.limit - current),
                reset,
                None if allowed else reset,
            )
        estimate = previous * (window - elapsed) / window + current
        allowed = estimate <= self.limit
        if not allowed:
            try:
                self.counters.undo(key_id, start)
            except Exception as error:
                self._warn(error)
            current -= 1
            estimate -= 1
        remaining = max(0, math.floor(self.limit - estimate))
        wait = self._sliding_wait(current, previous, elapsed)
        reset = max(1, math.ceil(wait)) if remaining == 0 else max(1, math.ceil(window - elapsed))
        return Decision(
            allowed,
            self.limit,
            window,
            remaining,
            reset,
            None if allowed else max(1, math.ceil(wait)),
        )

    def _sliding_wait(self, current: int, previous: int, elapsed: float) -> float:
        """Seconds until one more request fits under the sliding estimate."""
        window, limit = self.window, self.limit
        left_in_window = window - elapsed
        if current + 1 <= limit:
            if previous == 0:
                return 0.0
            return max(0.0, left_in_window - (limit - current - 1) * window / previous)
        # Not within this window: in the next, this window's hits weigh as the previous ones.
        return left_in_window + window * max(0.0, 1 - (limit - 1) / current)

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning("rate_limit_counters_unavailable", error=type(error).__name__)
