"""Repository protocols: the only way the rest of Drawbridge reaches storage.

Records are frozen dataclasses; implementations live in :mod:`drawbridge.storage.sql`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class SigningKeyRecord:
    """A stored signing key; ``private_key`` is PKCS#8 PEM, encrypted when ``encrypted`` is set."""

    kid: str
    algorithm: str
    private_key: bytes
    encrypted: bool
    created_at: float
    retired_at: float | None = None


class SigningKeyRepository(Protocol):
    """Persistence of signing keys."""

    async def add(self, key: SigningKeyRecord) -> None:
        """Store a new key."""
        ...

    async def list_all(self) -> list[SigningKeyRecord]:
        """Every stored key, newest first."""
        ...

    async def retire_all_except(self, kid: str, at: float) -> int:
        """Mark every other unretired key as retired at ``at``; return how many changed."""
        ...

    async def delete_retired_before(self, before: float) -> int:
        """Delete keys retired before ``before``; return how many went."""
        ...


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user of the built-in directory. ``password_hash`` is an argon2 PHC string."""

    id: str
    username: str
    password_hash: str
    roles: tuple[str, ...]
    disabled: bool
    created_at: float


class UserRepository(Protocol):
    """Persistence of the built-in user directory."""

    async def add(self, user: UserRecord) -> None:
        """Store a new user.

        Raises:
            DuplicateError: the username is taken.
        """
        ...

    async def get(self, user_id: str) -> UserRecord | None:
        """The user with this id, if any."""
        ...

    async def get_by_username(self, username: str) -> UserRecord | None:
        """The user with this username, if any."""
        ...

    async def list_all(self) -> list[UserRecord]:
        """Every user, ordered by username."""
        ...

    async def set_disabled(self, username: str, disabled: bool) -> bool:
        """Disable or re-enable a user; False when no such user."""
        ...

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Replace a user's password hash (used to upgrade hashes after login)."""
        ...
