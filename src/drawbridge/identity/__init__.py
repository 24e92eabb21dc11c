"""Identity: the built-in user directory (argon2id passwords, roles, disabling)."""

from drawbridge.identity.directory import (
    IdentityError,
    InvalidRole,
    InvalidUsername,
    UnknownUser,
    User,
    UserDirectory,
    UserExists,
    WeakPassword,
)

__all__ = [
    "IdentityError",
    "InvalidRole",
    "InvalidUsername",
    "UnknownUser",
    "User",
    "UserDirectory",
    "UserExists",
    "WeakPassword",
]
