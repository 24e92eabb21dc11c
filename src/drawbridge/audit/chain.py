"""The hash chain: what an audit row stores and how its hash is computed.

Threat model: someone with write access to the database (a compromised replica, an operator covering tracks)
edits or deletes audit rows. Each row's ``hash`` is SHA-256 over the canonical encoding of all its other columns,
``prev_hash`` (the previous row's ``hash`` in the same stream) and ``seq`` included, so:

* editing any column changes the row's hash (``hash_mismatch``);
* deleting a row leaves a gap in ``seq`` (``seq_gap``) and breaks the next row's ``prev_hash``;
* deleting the newest rows leaves ``audit_heads`` pointing past the end (``tail_missing``).

An attacker who can rewrite *every* row from the edit onwards and the head can forge a consistent chain: hash
chains make tampering evident only against a copy of a later hash kept elsewhere. That is what the JSON-lines sink,
and the head hash ``drawbridge audit verify`` prints, are for.

The canonical encoding is ``json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` of the
:data:`HASHED_COLUMNS` by name (every column but ``hash``), floats in Python's shortest round-trip form. Values
are normalised before they are stored *and* before they are hashed (:func:`stored_fields`), so what is read back
hashes to what was written, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

from drawbridge.audit.events import AuditEvent, truncate

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first row of every stream."""

# Column limits: longer text is replaced by its truncated form (prefix, "…", digest), never rejected, because an
# event that cannot be written refuses the request. Indexed columns stay under PostgreSQL's B-tree entry limit
# (about 2,700 bytes) even at 4 UTF-8 bytes per character.
TEXT_LIMITS: dict[str, int] = {
    "kind": 64,
    "user_id": 255,
    "username": 255,
    "client_id": 512,
    "client_kind": 32,
    "session_id": 255,
    "target": 512,
    "decision": 16,
    "reason": 1024,
    "outcome": 16,
    "result_digest": 64,
    "trace_id": 64,
}
_FLOATS = ("occurred_at", "latency_ms")
_INTS = ("seq", "result_size")
# Exactly these columns are hashed, by name, and this list never changes: a column added by a later migration must
# not change the hash of rows written before it (a new format would need a version column that is hashed too).
HASHED_COLUMNS = (
    "stream",
    "seq",
    "kind",
    "occurred_at",
    "user_id",
    "username",
    "client_id",
    "client_kind",
    "session_id",
    "target",
    "arguments",
    "decision",
    "reason",
    "outcome",
    "result_digest",
    "result_size",
    "latency_ms",
    "trace_id",
    "detail",
    "prev_hash",
)
_MIN_MARKED = 96  # below this a column holds closed-set values: clip them plainly, there is no room for a digest


def stored_fields(event: AuditEvent) -> dict[str, Any]:
    """The event's column values exactly as they will be stored and hashed.

    Text is cleaned of what PostgreSQL cannot store (NUL, lone surrogates) and clipped to its column; numbers get
    their column's type; JSON values become plain JSON (string keys, lists, finite numbers, anything else as its
    ``str``). Never raises for an event that type-checks: a malformed value must not stop the record.
    """
    fields: dict[str, Any] = {}
    for name, limit in TEXT_LIMITS.items():
        value = getattr(event, name)
        fields[name] = None if value is None else _clip(_clean(str(value)), limit)
    fields["occurred_at"] = float(event.occurred_at)
    fields["latency_ms"] = None if event.latency_ms is None else float(event.latency_ms)
    fields["result_size"] = None if event.result_size is None else int(event.result_size)
    fields["arguments"] = _plain_json(event.arguments)
    fields["detail"] = _plain_json(event.detail) if event.detail else {}
    return fields


def row_hash(row: Mapping[str, Any]) -> str:
    """The hash of a stored row: SHA-256 of the canonical encoding of :data:`HASHED_COLUMNS` (all but ``hash``)."""
    hashed = {name: row[name] for name in HASHED_COLUMNS}
    for name in _FLOATS:
        if hashed.get(name) is not None:
            hashed[name] = float(hashed[name])
    for name in _INTS:
        if hashed.get(name) is not None:
            hashed[name] = int(hashed[name])
    encoded = json.dumps(hashed, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(encoded.encode("ascii")).hexdigest()


def link(fields: dict[str, Any], *, stream: str, seq: int, prev_hash: str) -> dict[str, Any]:
    """The full row for ``fields`` as entry ``seq`` of ``stream`` after a row whose hash is ``prev_hash``."""
    row = {**fields, "stream": stream, "seq": seq, "prev_hash": prev_hash}
    row["hash"] = row_hash(row)
    return row


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL, and UTF-8 cannot hold lone surrogates: replace both rather than fail.
    return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return truncate(text, max_chars=limit, keep=min(64, limit - 72)) if limit >= _MIN_MARKED else text[:limit]


def _plain_json(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {_clean(str(key)): _plain_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(item) for item in value]
    return str(value)
