"""Rate limits on the ``limits`` library: in memory by default, in Redis when replicas must share counters.

Threats: credential stuffing on the sign-in form, code/refresh-token guessing at ``/token``, registration floods, and
one user or client starving everyone else on ``/mcp``. Keys are namespaced per limit and per strategy (``limits``
stores different strategies' counters differently), and a limiter that cannot reach its storage refuses rather
than letting everything through (fail closed: :class:`LimiterUnavailable`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import structlog
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from drawbridge.clock import SystemClock
from drawbridge.errors import ConfigError, DrawbridgeError
from drawbridge.settings import RateLimitSettings, RateStrategy

if TYPE_CHECKING:
    from redis.asyncio import ConnectionPool

log = structlog.get_logger(__name__)

_STRATEGIES: Mapping[RateStrategy, type[RateLimiter]] = {
    "moving-window": MovingWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
}


class LimiterUnavailable(DrawbridgeError):
    """The counters' storage (Redis) could not be reached: the request is refused, not waved through."""


class RateLimit:
    """One named limit, e.g. ``RateLimit("register", "10/minute")``, keyed per caller (source address, user…).

    Args:
        name: namespace of the counters (different limits never share keys).
        rate: the ``limits`` rate string, e.g. ``"10/minute"``.
        storage: counter storage; in-memory by default.
        strategy: the ``limits`` strategy.
    """

    def __init__(
        self, name: str, rate: str, *, storage: Storage | None = None, strategy: RateStrategy = "moving-window"
    ) -> None:
        self._name = f"{name}:{strategy}"
        self._item: RateLimitItem = parse(rate)
        self._limiter = _STRATEGIES[strategy](storage or MemoryStorage())
        # ``limits`` reads the wall clock itself, so Retry-After must be computed against the wall clock too.
        self._clock = SystemClock()

    async def hit(self, key: str) -> int | None:
        """Count one hit for ``key``; return None when allowed, else the seconds to wait (``Retry-After``).

        Raises:
            LimiterUnavailable: the storage failed.
        """
        try:
            if await self._limiter.hit(self._item, self._name, key):
                return None
            stats = await self._limiter.get_window_stats(self._item, self._name, key)
        except Exception as exc:  # redis errors, connection refused, timeouts: whatever the storage raises
            log.error("rate_limiter_unavailable", limit=self._name, error=type(exc).__name__)
            raise LimiterUnavailable("the rate limiter is unavailable") from exc
        return max(1, math.ceil(stats.reset_time - self._clock.now()))


class RateLimits:
    """The configured limits, sharing one storage (memory, or one Redis connection pool)."""

    def __init__(self, settings: RateLimitSettings) -> None:
        self.settings = settings
        self._pool: ConnectionPool | None = None
        self._storage: Storage = MemoryStorage()
        if settings.storage_url:
            try:
                from redis.asyncio import ConnectionPool
            except ImportError as exc:
                raise ConfigError(
                    "rate_limits.storage_url needs the redis extra: pip install 'mcp-drawbridge[redis]'"
                ) from exc
            # Our own pool, so shutdown can close its connections (limits has no close of its own).
            self._pool = ConnectionPool.from_url(settings.storage_url, socket_timeout=2.0, socket_connect_timeout=2.0)
            self._storage = RedisStorage(
                "async+" + settings.storage_url,
                implementation="redispy",
                key_prefix=settings.key_prefix,
                wrap_exceptions=True,
                connection_pool=self._pool,  # type: ignore[arg-type]  # passed through to redis.asyncio.Redis
            )

    async def aclose(self) -> None:
        """Close the Redis connections (a no-op in memory)."""
        if self._pool is not None:
            await self._pool.aclose()

    def limit(self, name: str, rate: str) -> RateLimit:
        return RateLimit(name, rate, storage=self._storage, strategy=self.settings.strategy)
