"""Failures of the audit trail that callers handle."""

from drawbridge.errors import DrawbridgeError


class AuditError(DrawbridgeError):
    """Root of the audit trail's errors."""


class AuditUnavailable(AuditError):
    """The audit store could not durably record (or read) events.

    The request path treats this as "refuse the call": an action that cannot be recorded is not performed.
    """
