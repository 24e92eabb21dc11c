"""SQLAlchemy implementations of the repository protocols."""

from drawbridge.storage.sql.clients import SqlClientRepository
from drawbridge.storage.sql.grants import SqlGrantRepository
from drawbridge.storage.sql.keys import SqlSigningKeyRepository
from drawbridge.storage.sql.sessions import SqlSessionRepository
from drawbridge.storage.sql.users import SqlUserRepository

__all__ = [
    "SqlClientRepository",
    "SqlGrantRepository",
    "SqlSessionRepository",
    "SqlSigningKeyRepository",
    "SqlUserRepository",
]
