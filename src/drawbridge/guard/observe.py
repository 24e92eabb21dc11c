"""What the guard knows about each call once it is decided and done: for metrics, traces and the audit trail.

The guard fills one :class:`CallRecord` per ``tools/call``, ``resources/read`` and listing as the call goes through
its checks, and hands it to a :class:`CallObserver` (the audit trail). ``before`` runs just before a tool that can
change anything (not read-only): if it raises, the tool does not run. ``after`` runs when the call is done, before
the result is returned: if it raises, the result is withheld. That is how an unrecorded call is refused.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from drawbridge.policy import Decision
from drawbridge.tools import Caller

Outcome = Literal["ok", "error", "denied", "invalid", "unknown", "unrecorded"]


@dataclass
class CallRecord:
    """One MCP request as the guard saw it. ``arguments`` are raw: observers mask them before storing."""

    method: str  # tools/call, resources/read, tools/list, resources/templates/list
    target: str  # the tool name or resource URI ("" for listings)
    caller: Caller | None
    arguments: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None
    decision: Decision | None = None
    outcome: Outcome = "ok"
    reason: str = ""  # why it failed or was denied (the agent-facing message; policy ids go to decision)
    result: Any = None  # what the agent received (already masked)
    read_only: bool = True
    started: float = field(default_factory=time.perf_counter)

    @property
    def latency_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


class CallObserver(Protocol):
    """Records calls durably; raising refuses the call (before) or withholds its result (after)."""

    async def before(self, record: CallRecord) -> None:
        """A call that can change something is about to run."""
        ...

    async def after(self, record: CallRecord) -> None:
        """A call is done (allowed or not); ``record`` is final."""
        ...
