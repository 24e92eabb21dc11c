"""SQLAlchemy implementations of the repository protocols."""

from drawbridge.storage.sql.keys import SqlSigningKeyRepository

__all__ = ["SqlSigningKeyRepository"]
