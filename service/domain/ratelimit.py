"""Rate limits per API key (a quota of requests per window) and per client address (a quota of
failed authentications), counted where every worker sees it.

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

:class:`FailureLimiter` is the other limit: at most ``limit`` failed authentications (401s) per
client address in each fixed window, after which the address is refused with a 429 *before*
its key is looked up, so a key guesser costs the database a bounded number of lookups however
fast it sends (see the class for the bound and for a valid key sent from a blocked address).
"""

from __future__ import annotations

import hashlib
import ipaddress
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


@dataclass(frozen=True)
class Refusal:
    """An address over its limit of failed authentications, and when it may try again."""

    limit: int
    window: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


def address_key(address: str) -> str:
    """The counter key of a client address: 31 hex digits of a SHA-256 (the counters table holds
    36 characters, the namespace takes 5; and no address is stored in clear).

    An IPv4 address counts on its own; an IPv6 address by its /64, which is what one host
    usually gets: counted one by one, a guesser could change address for every guess.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        text = address  # not an address (a unix socket's peer): counted as the string it is
    else:
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            text = str(ip.ipv4_mapped)
        elif isinstance(ip, ipaddress.IPv6Address):
            text = str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
        else:
            text = str(ip)
    return hashlib.sha256(text.encode()).hexdigest()[:31]


class FailureLimiter:
    """At most ``limit`` failed authentications per client address in each window of
    ``window`` seconds ``[k * window, (k + 1) * window)``, counted in the shared store.

    Only failures are counted (one write each); a request with a valid key costs nothing here,
    not even a read. Each worker keeps what the store answered to its own writes (the count of
    each address that failed here, this window) and refuses an address whose count has reached
    the limit before anything else happens: no lookup, no store round trip. So a worker spends
    at most one lookup on an address another worker (or instance) has already blocked -- the
    one whose failure tells it the shared count -- and a guesser gets at most ``limit`` +
    (workers of every instance - 1) lookups a window, however fast it sends. Refused requests
    are not counted: they cost nothing, and the address gets a fresh quota with the next window
    (``Retry-After`` says when).

    A valid key sent from a blocked address is refused too: it cannot be told from a guess
    without the lookup the block exists to save. The worker's memory is only a cache of the
    shared counts (lost on restart, trimmed when it holds ``memory`` addresses): forgetting
    costs at most one more lookup per address.
    """

    def __init__(
        self, counters: Counters, *, limit: int, window: int, memory: int = 10_000
    ) -> None:
        if limit < 1 or window < 1:
            raise ValueError("a failure limit needs limit >= 1 and window >= 1 second")
        self.counters = counters
        self.limit = limit
        self.window = window
        self._memory = memory
        self._counts: dict[str, tuple[int, int]] = {}  # address key -> (window start, failures)
        self._warned_at = -math.inf

    def refusal(self, address: str, now: float | None = None) -> Refusal | None:
        """The refusal for ``address`` when this worker knows it is over the limit, else None."""
        if not self._counts:  # nothing failed here lately: the usual case costs this test only
            return None
        now = time.time() if now is None else now
        start = int(now // self.window) * self.window
        seen = self._counts.get(address_key(address))
        if seen is None or seen[0] != start or seen[1] < self.limit:
            return None
        return Refusal(self.limit, self.window, max(1, math.ceil(start + self.window - now)))

    def failed(self, address: str, now: float | None = None) -> None:
        """Count one failed authentication of ``address`` in the shared store."""
        now = time.time() if now is None else now
        start = int(now // self.window) * self.window
        key = address_key(address)
        try:
            count, _ = self.counters.hit(key, start, self.window, previous=False)
        except Exception as error:
            now_monotonic = time.monotonic()
            if now_monotonic - self._warned_at >= _WARN_EVERY_SECONDS:
                self._warned_at = now_monotonic
                log.warning("auth_failure_counters_unavailable", error=type(error).__name__)
            return
        if len(self._counts) >= self._memory:
            self._counts = {k: v for k, v in self._counts.items() if v[0] == start}
            if len(self._counts) >= self._memory:
                self._counts.clear()
        self._counts[key] = (start, count)
