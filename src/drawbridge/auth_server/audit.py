"""Audit events of the authorization server: registrations, sign-ins, consents and the token lifecycle.

Each is recorded before its response is sent. When the audit trail cannot record (and ``[audit] fail_closed`` is
on, the default), the recording raises :class:`~drawbridge.audit.AuditUnavailable` and the app answers 503: the
user retries later rather than acting unrecorded. Events carry ids, scopes and client names, never a token, code,
secret or password.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from drawbridge.audit import AuditEvent, AuditSink, EventKind, Outcome
from drawbridge.clock import Clock
from drawbridge.telemetry.tracing import current_trace_id


class AuthAudit:
    """Records authorization-server events through an :class:`~drawbridge.audit.AuditSink` (no-op without one)."""

    def __init__(self, sink: AuditSink | None, clock: Clock) -> None:
        self._sink = sink
        self._clock = clock

    async def record(
        self,
        kind: EventKind,
        *,
        user_id: str | None = None,
        username: str | None = None,
        client_id: str | None = None,
        client_kind: str | None = None,
        outcome: Outcome = "ok",
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        if self._sink is None:
            return
        await self._sink.record(
            AuditEvent(
                kind=kind,
                occurred_at=self._clock.now(),
                user_id=user_id,
                username=username[:128] if username is not None else None,
                client_id=client_id,
                client_kind=client_kind,
                outcome=outcome,
                reason=reason,
                trace_id=current_trace_id(),
                detail=detail or {},
            )
        )


def token_claims(token: str) -> dict[str, Any]:
    """The claims of an access token this server has just minted (its own output: no verification needed)."""
    try:
        payload = token.split(".")[1]
        decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError):
        return {}
    return decoded if isinstance(decoded, dict) else {}
