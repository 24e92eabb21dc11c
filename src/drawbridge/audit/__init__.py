"""The audit trail: durable, hash-chained records of who did what, through which client, with what result.

Events (:class:`AuditEvent`) are appended by :class:`AuditWriter` (group commit, fail closed) to the database
through :class:`AuditStore`; ``drawbridge audit verify`` walks the chains, ``purge`` applies retention and leaves an
anchor so the rest still verifies. See docs/audit.md.
"""

from drawbridge.audit.chain import GENESIS_HASH
from drawbridge.audit.config import AuditSettings
from drawbridge.audit.errors import AuditError, AuditUnavailable
from drawbridge.audit.events import (
    EVENT_KINDS,
    AuditEvent,
    Decision,
    EventKind,
    Outcome,
    digest,
    truncate,
    truncate_values,
)
from drawbridge.audit.retention import Anchor
from drawbridge.audit.sinks import AuditSink, JsonlSink, RecordSink
from drawbridge.audit.store import DEFAULT_STREAM, AuditQuery, AuditRecord, AuditStore
from drawbridge.audit.verify import ChainBreak, ChainBroken, Problem, StreamVerification, Verification
from drawbridge.audit.writer import AuditWriter

__all__ = [
    "DEFAULT_STREAM",
    "EVENT_KINDS",
    "GENESIS_HASH",
    "Anchor",
    "AuditError",
    "AuditEvent",
    "AuditQuery",
    "AuditRecord",
    "AuditSettings",
    "AuditSink",
    "AuditStore",
    "AuditUnavailable",
    "AuditWriter",
    "ChainBreak",
    "ChainBroken",
    "Decision",
    "EventKind",
    "JsonlSink",
    "Outcome",
    "Problem",
    "RecordSink",
    "StreamVerification",
    "Verification",
    "digest",
    "truncate",
    "truncate_values",
]
