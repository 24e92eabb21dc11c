"""Fixtures for the edge tests: where the rate-limit counters live (memory or Redis under a fresh prefix)."""

from __future__ import annotations

import gc
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.toolsets import WRITES

REDIS_URL = "redis://127.0.0.1:6379/0"
UNREACHABLE_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1: every storage call fails


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards."""
    prefix = f"drawbridge-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
    finally:
        client.close()


def redis_keys(prefix: str) -> list[bytes]:
    """The counters stored under ``prefix`` (to show that the Redis path, not memory, counted)."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        return list(client.scan_iter(f"{prefix}*"))
    finally:
        client.close()


@pytest.fixture(autouse=True)
def _collect_after_servers_stop() -> Iterator[None]:
    """Set up first, so torn down last: a leaked connection (the server must close its Redis pool) is collected in
    this test's teardown, where its ResourceWarning fails the test that leaked it."""
    yield
    gc.collect()


@pytest.fixture(params=["memory", "redis"])
def counters(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The ``rate_limits`` settings for counters in this process or in the local Redis under a fresh prefix."""
    if request.param == "memory":
        return {}
    prefix: str = request.getfixturevalue("redis_prefix")
    return {"storage_url": REDIS_URL, "key_prefix": prefix}


@pytest.fixture
def writes() -> list[tuple[str, int, str]]:
    """The destructive test tool's record before the test (compare to show a refused call did nothing)."""
    return list(WRITES)
