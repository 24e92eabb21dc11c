"""Audit events for tests, and direct SQL for tampering with stored rows as an attacker would."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.audit import AuditEvent
from drawbridge.storage.tables import audit_events
from drawbridge.testing import FrozenClock


def tool_call(clock: FrozenClock, n: int = 0, **changes: Any) -> AuditEvent:
    """A tools/call event at the clock's current time; ``n`` varies the arguments."""
    fields: dict[str, Any] = {
        "kind": "mcp.tools_call",
        "occurred_at": clock.now(),
        "user_id": "u-1",
        "username": "dana",
        "client_id": "https://client.example/meta.json",
        "client_kind": "cimd",
        "target": "lookup_order",
        "arguments": {"order_id": f"2026-{n:06d}"},
        "decision": "allow",
        "outcome": "ok",
        **changes,
    }
    return AuditEvent(**fields)


async def edit_row(engine: AsyncEngine, seq: int, stream: str = "main", **values: Any) -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            update(audit_events).where(audit_events.c.stream == stream, audit_events.c.seq == seq).values(**values)
        )
        assert result.rowcount == 1


async def delete_row(engine: AsyncEngine, seq: int, stream: str = "main") -> None:
    async with engine.begin() as conn:
        result = await conn.execute(
            delete(audit_events).where(audit_events.c.stream == stream, audit_events.c.seq == seq)
        )
        assert result.rowcount == 1
