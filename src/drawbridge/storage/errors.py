"""Storage failures that callers handle (translated from SQLAlchemy at the repository boundary)."""

from drawbridge.errors import DrawbridgeError


class StorageError(DrawbridgeError):
    """A storage operation failed in a way the caller should know about."""


class DuplicateError(StorageError):
    """A row with the same unique key already exists."""
