"""What an audit event says, and how callers keep large values out of it.

An event is written by the request path after masking: ``arguments`` must already be masked by the same rules as
tool results, so the audit store never becomes the one place that holds raw personal data. Large values are
replaced by :func:`truncate_values` with a short prefix and their SHA-256, so a row stays small yet can still be
matched to the original (hash the original and compare).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

EventKind = Literal[
    "mcp.initialize",
    "mcp.list",
    "mcp.tools_call",
    "mcp.resources_read",
    "auth.login_succeeded",
    "auth.login_failed",
    "auth.client_registered",
    "auth.consent_granted",
    "auth.consent_revoked",
    "token.issued",
    "token.refreshed",
    "token.exchanged",
    "token.revoked",
    "token.refresh_reuse",
]
EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)

Decision = Literal["allow", "deny"]
Outcome = Literal["ok", "error", "denied"]

DIGEST_PREFIX = "sha256:"
ELLIPSIS = "\u2026"
_MARKER_OVERHEAD = len(ELLIPSIS) + len(DIGEST_PREFIX) + 64


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing that happened, as the audit trail records it.

    Every field but ``kind`` and ``occurred_at`` is optional, because an event records what is known at its
    point in the request: a failed login has no user id, a token event has no tool.

    Attributes:
        kind: what happened (:data:`EVENT_KINDS`).
        occurred_at: Unix seconds, from the injected :class:`~drawbridge.clock.Clock`.
        user_id: the token subject or directory user id.
        username: the login name, when known (readable in ``audit tail``; the id is what searches use).
        client_id: the OAuth client acting for the user.
        client_kind: how the client was identified: ``dcr``, ``cimd``, ``static``, ``stdio``.
        session_id: the MCP session (``Mcp-Session-Id``), when there is one.
        target: the tool name or resource URI.
        arguments: the call's arguments, JSON-able, already masked; see :func:`truncate_values`.
        decision: the access policy's decision, when one was made.
        reason: why (a policy id, an error code); never a secret.
        outcome: ``ok``, ``error`` or ``denied``.
        result_digest: hex SHA-256 of the result as sent (:func:`digest`).
        result_size: the result's size in bytes.
        latency_ms: time from request to response.
        trace_id: the W3C trace id (32 hex digits) joining this event to the request's spans.
        detail: a small JSON object for anything else (scopes granted, token jti, error type).
    """

    kind: EventKind
    occurred_at: float
    user_id: str | None = None
    username: str | None = None
    client_id: str | None = None
    client_kind: str | None = None
    session_id: str | None = None
    target: str | None = None
    arguments: Any = None
    decision: Decision | None = None
    reason: str | None = None
    outcome: Outcome = "ok"
    result_digest: str | None = None
    result_size: int | None = None
    latency_ms: float | None = None
    trace_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def digest(data: bytes | str) -> str:
    """Hex SHA-256 of ``data`` (strings as UTF-8), for :attr:`AuditEvent.result_digest`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def truncate(value: str, *, max_chars: int = 256, keep: int = 32) -> str:
    """``value`` itself when at most ``max_chars`` long, else its first ``keep`` characters, ``…`` and its digest.

    The result of a truncation is never longer than ``max_chars``, so truncating twice changes nothing.

    Raises:
        ValueError: ``max_chars`` is too small to hold ``keep`` characters and the digest marker.
    """
    if keep < 0 or keep + _MARKER_OVERHEAD > max_chars:
        raise ValueError(f"max_chars must be at least keep + {_MARKER_OVERHEAD}")
    if len(value) <= max_chars:
        return value
    return f"{value[:keep]}{ELLIPSIS}{DIGEST_PREFIX}{digest(value)}"


def truncate_values(value: Any, *, max_chars: int = 256, keep: int = 32) -> Any:
    """A copy of a JSON-able value with every string longer than ``max_chars`` replaced by :func:`truncate`'s form.

    Object keys are kept as they are (they come from the tool's input model, not from the caller's data).

    Raises:
        ValueError: as :func:`truncate`.
    """
    if isinstance(value, str):
        return truncate(value, max_chars=max_chars, keep=keep)
    if isinstance(value, dict):
        return {key: truncate_values(item, max_chars=max_chars, keep=keep) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [truncate_values(item, max_chars=max_chars, keep=keep) for item in value]
    return value
