"""Where events go besides the database: the seam the request path writes to, and extra copies after commit."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from drawbridge.audit.events import AuditEvent
from drawbridge.audit.store import AuditRecord


class AuditSink(Protocol):
    """What the request path records events through (:class:`~drawbridge.audit.writer.AuditWriter`, or a fake)."""

    async def record(self, event: AuditEvent) -> None:
        """Return once ``event`` is durably recorded.

        Raises:
            AuditUnavailable: it was not, and the caller must not act as if it had been.
        """
        ...


class RecordSink(Protocol):
    """An extra destination for records the database has committed (best effort: failures are logged)."""

    async def write(self, records: Sequence[AuditRecord]) -> None:
        """Write the records, in order.

        Raises:
            OSError: the destination could not be written.
        """
        ...


class JsonlSink:
    """Appends each committed record, every column and both hashes, as one JSON line to a file.

    The file is a copy outside the database, so an attacker who rewrites the database's chain consistently is still
    caught by comparing hashes with it. It is created readable by its owner only (audit rows describe users).
    Each batch goes out in one ``O_APPEND`` write, so several processes may share the file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path

    async def write(self, records: Sequence[AuditRecord]) -> None:
        if records:
            text = "".join(json.dumps(record.as_dict(), sort_keys=True) + "\n" for record in records)
            await asyncio.to_thread(self._append, text.encode("utf-8"))

    def _append(self, data: bytes) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
