"""The guard's audit observer: every MCP request it decides becomes an audit event, or does not happen.

Arguments are masked with the same detectors as results (so the audit store never becomes the one place holding
raw personal data) and long strings are cut to a prefix plus their digest. The result is recorded as its digest and
size, not its content. The event carries the trace id of the request's span, joining the audit row to the trace.
"""

from __future__ import annotations

import json
from typing import Any

from drawbridge.audit import AuditEvent, AuditSink, EventKind, Outcome, digest, truncate_values
from drawbridge.clock import Clock
from drawbridge.guard.access import verified_client_id
from drawbridge.guard.masking import OutputMasking
from drawbridge.guard.observe import CallRecord
from drawbridge.telemetry.tracing import current_trace_id

_KINDS: dict[str, EventKind] = {
    "tools/call": "mcp.tools_call",
    "resources/read": "mcp.resources_read",
    "tools/list": "mcp.list",
    "resources/templates/list": "mcp.list",
    "resources/list": "mcp.list",
    "initialize": "mcp.initialize",
    "server/discover": "mcp.initialize",
}


class AuditObserver:
    """A :class:`~drawbridge.guard.observe.CallObserver` writing :class:`~drawbridge.audit.AuditEvent` rows."""

    def __init__(self, sink: AuditSink, *, clock: Clock, masking: OutputMasking | None, max_value_chars: int) -> None:
        self._sink = sink
        self._clock = clock
        self._masking = masking
        self._max_value_chars = max_value_chars

    async def before(self, record: CallRecord) -> None:
        """Record the intent of a call that can change something, so it never runs unrecorded."""
        await self._sink.record(self._event(record, phase="started"))

    async def after(self, record: CallRecord) -> None:
        await self._sink.record(self._event(record, phase="done"))

    def _event(self, record: CallRecord, *, phase: str) -> AuditEvent:
        caller = record.caller
        decision = record.decision
        done = phase == "done"
        result = _sent(record.result) if done else None
        detail: dict[str, Any] = {"phase": phase, "method": record.method}
        if done:
            detail["outcome"] = record.outcome
        if decision is not None and decision.errors:
            detail["policy_errors"] = len(decision.errors)
        return AuditEvent(
            kind=_KINDS.get(record.method, "mcp.list"),
            occurred_at=self._clock.now(),
            user_id=caller.subject if caller else None,
            username=caller.username if caller else None,
            client_id=caller.client_id if caller else None,
            client_kind=_client_kind(caller.client_id, verified=caller.client_verified) if caller else None,
            session_id=record.session_id,
            target=record.target or None,
            arguments=self._arguments(record.arguments),
            decision=None if decision is None else ("allow" if decision.allowed else "deny"),
            reason=_reason(record),
            outcome=_outcome(record) if done else "ok",
            result_digest=digest(result) if result is not None else None,
            result_size=len(result.encode()) if result is not None else None,
            latency_ms=round(record.latency_ms, 3),
            trace_id=current_trace_id(),
            detail=detail,
        )

    def _arguments(self, arguments: dict[str, Any]) -> Any:
        if not arguments:
            return None
        masked = self._masking.mask("", arguments)[0] if self._masking is not None else arguments
        return truncate_values(masked, max_chars=self._max_value_chars)


def _sent(result: Any) -> str | None:
    """The result as the agent received it: the JSON text of the (masked) structured content, or the read's text."""
    if result is None:
        return None
    return result if isinstance(result, str) else json.dumps(result)


def _outcome(record: CallRecord) -> Outcome:
    if record.outcome == "ok":
        return "ok"
    return "denied" if record.outcome == "denied" else "error"


def _reason(record: CallRecord) -> str | None:
    """The deciding policy ids on a decision, else the failure message the agent saw (never a secret)."""
    if record.decision is not None and record.decision.policy_ids:
        return ",".join(record.decision.policy_ids)[:512]
    if record.decision is not None and not record.decision.allowed:
        return "default deny"
    return record.reason[:512] or None


def _client_kind(client_id: str, *, verified: bool) -> str:
    if verified_client_id(client_id):
        return "cimd"
    return "local" if verified else "dcr"
