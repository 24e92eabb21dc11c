"""An audit store on each backend."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.audit import AuditStore
from drawbridge.testing import FrozenClock


@pytest.fixture
def store(engine: AsyncEngine, clock: FrozenClock) -> AuditStore:
    return AuditStore(engine, clock=clock, retention_days=30)
