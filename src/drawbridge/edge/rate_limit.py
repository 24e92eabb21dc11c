"""Rate limits on the ``limits`` library (moving window; in memory, or Redis when replicas share counters)."""

from __future__ import annotations

import math

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from drawbridge.clock import SystemClock


class RateLimit:
    """One named limit, e.g. ``RateLimit("register", "10/minute")``, keyed per caller (source address, user…).

    Args:
        name: namespace of the counters (different limits never share keys).
        rate: the ``limits`` rate string, e.g. ``"10/minute"``.
        storage: counter storage; in-memory by default.
    """

    def __init__(self, name: str, rate: str, *, storage: Storage | None = None) -> None:
        self._name = name
        self._item: RateLimitItem = parse(rate)
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())
        # ``limits`` reads the wall clock itself, so Retry-After must be computed against the wall clock too.
        self._clock = SystemClock()

    async def hit(self, key: str) -> int | None:
        """Count one hit for ``key``; return None when allowed, else the seconds to wait (``Retry-After``)."""
        if await self._limiter.hit(self._item, self._name, key):
            return None
        stats = await self._limiter.get_window_stats(self._item, self._name, key)
        return max(1, math.ceil(stats.reset_time - self._clock.now()))
