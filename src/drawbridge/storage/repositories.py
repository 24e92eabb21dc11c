"""Repository protocols: the only way the rest of Drawbridge reaches storage.

Records are frozen dataclasses; implementations live in :mod:`drawbridge.storage.sql`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


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
    groups: tuple[str, ...] = ()


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


@dataclass(frozen=True, slots=True)
class ClientRecord:
    """A dynamically registered client: its RFC 7591 metadata and, when confidential, its secret's hash."""

    client_id: str
    metadata: dict[str, Any]
    secret_hash: str | None
    created_at: float
    last_used_at: float | None = None


class ClientRepository(Protocol):
    """Persistence of registered clients."""

    async def add(self, client: ClientRecord) -> None: ...

    async def get(self, client_id: str) -> ClientRecord | None: ...

    async def touch(self, client_id: str, at: float) -> None:
        """Record that the client obtained a token, so it is not expired as unused."""
        ...

    async def delete_unused_before(self, before: float) -> int:
        """Delete clients registered before ``before`` that never obtained a token; return how many."""
        ...


@dataclass(frozen=True, slots=True)
class LoginSessionRecord:
    """A browser login session; only the SHA-256 of the cookie value is stored."""

    id_hash: str
    user_id: str
    created_at: float
    expires_at: float


@dataclass(frozen=True, slots=True)
class AuthorizationRequestRecord:
    """A validated /authorize request waiting for login and consent."""

    id: str
    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str
    resource: str
    expires_at: float
    redirect_uri_given: bool = True


@dataclass(frozen=True, slots=True)
class AuthorizationCodeRecord:
    """An issued authorization code (stored by hash), bound to client, redirect URI, PKCE and resource."""

    code_hash: str
    client_id: str
    user_id: str
    redirect_uri: str
    scope: str
    resource: str
    code_challenge: str
    expires_at: float
    used_at: float | None = None
    family_id: str | None = None
    access_jti: str | None = None
    redirect_uri_given: bool = True


@dataclass(frozen=True, slots=True)
class RefreshTokenRecord:
    """A refresh token (stored by hash) and the family it belongs to."""

    token_hash: str
    family_id: str
    client_id: str
    user_id: str
    scope: str
    resource: str
    created_at: float
    expires_at: float
    used_at: float | None = None
    family_revoked: bool = False
    access_jti: str | None = None


@dataclass(frozen=True, slots=True)
class ConsentRecord:
    """The scopes a user has granted a client, remembered until revoked."""

    user_id: str
    client_id: str
    scope: str
    granted_at: float


class GrantRepository(Protocol):
    """Authorization requests, codes, refresh tokens and revoked access tokens."""

    async def add_request(self, request: AuthorizationRequestRecord) -> None: ...

    async def get_request(self, request_id: str) -> AuthorizationRequestRecord | None: ...

    async def delete_request(self, request_id: str) -> bool:
        """Delete the request; False when it was already gone (a second consent POST)."""
        ...

    async def add_code(self, code: AuthorizationCodeRecord) -> None: ...

    async def consume_code(
        self, code_hash: str, at: float, *, family_id: str, access_jti: str
    ) -> tuple[AuthorizationCodeRecord | None, bool]:
        """Atomically mark the code used and record the ids of what its first use will mint (so a concurrent
        replay can revoke them); return the code and whether this was its first use."""
        ...

    async def add_family(self, family_id: str, client_id: str, user_id: str, at: float) -> None:
        """Create a refresh family; if a replay already revoked it (it exists), leave it revoked."""
        ...

    async def add_refresh(self, token: RefreshTokenRecord) -> None: ...

    async def get_refresh(self, token_hash: str) -> RefreshTokenRecord | None: ...

    async def use_refresh(self, token_hash: str, at: float) -> bool:
        """Atomically mark a refresh token used; False when it already was (reuse)."""
        ...

    async def revoke_family(self, family_id: str, at: float, *, client_id: str = "", user_id: str = "") -> None:
        """Revoke a family, creating it already revoked if it does not exist yet (a replay racing its mint), and
        the access tokens issued with its refresh tokens."""
        ...

    async def revoke_families_of(self, user_id: str, client_id: str, at: float) -> int:
        """Revoke every refresh family a user granted a client; return how many."""
        ...

    async def revoke_access_token(self, jti: str, expires_at: float) -> None: ...

    async def is_access_token_revoked(self, jti: str) -> bool: ...

    async def purge_expired(self, now: float) -> int:
        """Delete expired requests, codes, refresh tokens and revocation rows; return how many rows went."""
        ...


class SessionRepository(Protocol):
    """Browser login sessions and remembered consents."""

    async def add_session(self, session: LoginSessionRecord) -> None: ...

    async def get_session(self, id_hash: str) -> LoginSessionRecord | None: ...

    async def delete_session(self, id_hash: str) -> None: ...

    async def get_consent(self, user_id: str, client_id: str) -> ConsentRecord | None: ...

    async def put_consent(self, consent: ConsentRecord) -> None: ...

    async def delete_consent(self, user_id: str, client_id: str) -> bool: ...

    async def list_consents(self, user_id: str) -> list[ConsentRecord]: ...

    async def purge_expired_sessions(self, now: float) -> int:
        """Delete expired login sessions; return how many."""
        ...
