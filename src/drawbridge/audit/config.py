"""The ``[audit]`` settings section, defined with the other sections in :mod:`drawbridge.settings`."""

from drawbridge.settings import AuditSettings

__all__ = ["AuditSettings"]
