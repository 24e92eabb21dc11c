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
