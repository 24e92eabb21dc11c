"""The built-in user directory: usernames, argon2id password hashes and roles.

Threats handled here:

- A stolen database must not yield passwords: only argon2id PHC strings are stored, and hashes made with
  weaker parameters are upgraded at the user's next successful login.
- Login must not reveal which usernames exist: an unknown username still costs one argon2 verify, against a
  dummy hash made with the same parameters as real ones, and gets the same ``None`` as a wrong password.
- Login must not reveal which accounts are disabled: the password is checked first, and a disabled account
  then answers ``None`` like a wrong password.
- Passwords never reach a log line or an exception message.
- Look-alike names: usernames and roles are a narrow ASCII alphabet, so no Unicode normalisation or
  confusable characters can make two different accounts read the same, and roles can go into tokens and
  policy rules verbatim.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from drawbridge.clock import Clock
from drawbridge.errors import DrawbridgeError
from drawbridge.storage.errors import DuplicateError
from drawbridge.storage.repositories import UserRecord, UserRepository

log = structlog.get_logger(__name__)

_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")
_ROLE = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# NIST SP 800-63B §5.1.1.2 asks for at least 8 characters; the upper bound caps the hashing work one request costs.
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024


class IdentityError(DrawbridgeError):
    """A user directory operation was refused; the message is one line for the operator, never a password."""


class UserExists(IdentityError):
    """The username is taken."""


class UnknownUser(IdentityError):
    """No user has this username."""


class InvalidUsername(IdentityError):
    """The username is outside the allowed alphabet or length."""


class InvalidRole(IdentityError):
    """A role name is outside the allowed alphabet or length."""


class WeakPassword(IdentityError):
    """The password is shorter than :data:`MIN_PASSWORD_LENGTH` or longer than :data:`MAX_PASSWORD_LENGTH`."""


@dataclass(frozen=True, slots=True)
class User:
    """A directory user as the rest of Drawbridge sees it: never with its password hash."""

    id: str
    username: str
    roles: tuple[str, ...]
    disabled: bool
    groups: tuple[str, ...] = ()


class UserDirectory:
    """Adds, authenticates, lists and disables users of the built-in directory.

    Argon2 runs in a worker thread, so a login never stalls the event loop for the length of a hash.

    Args:
        repository: where users persist.
        clock: time source for ``created_at``.
        hasher: argon2 parameters for new hashes. The default is argon2-cffi's, RFC 9106's low-memory
            recommendation; pass cheaper parameters only in tests.
    """

    def __init__(self, repository: UserRepository, clock: Clock, *, hasher: PasswordHasher | None = None) -> None:
        self._repository = repository
        self._clock = clock
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    async def add_user(self, username: str, password: str, roles: Sequence[str], groups: Sequence[str] = ()) -> User:
        """Create an enabled user with a fresh random id; repeated roles and groups are kept once.

        Raises:
            InvalidUsername: the username does not match ``[A-Za-z0-9][A-Za-z0-9._@-]{0,127}``.
            InvalidRole: a role or group does not match ``[a-z][a-z0-9_-]{0,63}``.
            WeakPassword: the password is outside 8 to 1024 characters.
            UserExists: the username is taken; nothing is written.
        """
        if not _USERNAME.fullmatch(username):
            raise InvalidUsername(f"invalid username {username!r}: use 1-128 letters, digits and . _ @ -")
        checked_roles = _checked_roles(roles)
        checked_groups = _checked_roles(groups)
        if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
            raise WeakPassword(f"password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")
        record = UserRecord(
            id=uuid.uuid4().hex,
            username=username,
            password_hash=await self._hash(password),
            roles=checked_roles,
            disabled=False,
            created_at=self._clock.now(),
            groups=checked_groups,
        )
        try:
            await self._repository.add(record)
        except DuplicateError as exc:
            raise UserExists(f"user {username!r} already exists") from exc
        log.info(
            "user_added", user_id=record.id, username=username, roles=list(checked_roles), groups=list(checked_groups)
        )
        return _user(record)

    async def authenticate(self, username: str, password: str) -> User | None:
        """The enabled user these credentials belong to, or None.

        Unknown user, wrong password and disabled account all answer None, after about the same work, so a
        login form cannot be used to probe which usernames exist or which accounts are disabled.
        """
        if len(password) > MAX_PASSWORD_LENGTH:
            return None  # no account can have it, and the caller already knows its length
        record = await self._repository.get_by_username(username) if _USERNAME.fullmatch(username) else None
        if record is None:
            await self._matches(await self._dummy(), password)
            return None
        if not await self._matches(record.password_hash, password, user_id=record.id) or record.disabled:
            return None
        if self._hasher.check_needs_rehash(record.password_hash):
            await self._repository.set_password_hash(record.id, await self._hash(password))
            log.info("password_hash_upgraded", user_id=record.id)
        return _user(record)

    async def get(self, user_id: str) -> User | None:
        """The user with this id (disabled or not), if any."""
        record = await self._repository.get(user_id)
        return None if record is None else _user(record)

    async def list_users(self) -> list[User]:
        """Every user, ordered by username."""
        return [_user(record) for record in await self._repository.list_all()]

    async def set_disabled(self, username: str, disabled: bool) -> None:
        """Disable or re-enable a user's logins.

        Sessions and tokens issued before the user was disabled are not touched here; whoever honours them
        must check :attr:`User.disabled` through :meth:`get`.

        Raises:
            UnknownUser: no user has this username.
        """
        if not await self._repository.set_disabled(username, disabled):
            raise UnknownUser(f"no user named {username!r}")
        log.info("user_disabled" if disabled else "user_enabled", username=username)

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def _matches(self, password_hash: str, password: str, *, user_id: str | None = None) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except VerificationError:
            return False
        except InvalidHashError:
            # Fail closed: a corrupt row locks its user out rather than letting anything in.
            log.error("password_hash_unreadable", user_id=user_id)
            return False

    async def _dummy(self) -> str:
        # A hash of a secret nobody knows, with the parameters real hashes have: verifying against it costs
        # what a real verify costs and never succeeds. Made on first need so listing users never pays for it.
        if self._dummy_hash is None:
            self._dummy_hash = await self._hash(secrets.token_urlsafe(32))
        return self._dummy_hash


def _checked_roles(roles: Sequence[str]) -> tuple[str, ...]:
    if isinstance(roles, str):
        raise TypeError("roles must be a sequence of role names, not one string")
    for role in roles:
        if not _ROLE.fullmatch(role):
            raise InvalidRole(f"invalid role {role!r}: use a lowercase letter then up to 63 of a-z 0-9 _ -")
    return tuple(dict.fromkeys(roles))


def _user(record: UserRecord) -> User:
    return User(
        id=record.id, username=record.username, roles=record.roles, disabled=record.disabled, groups=record.groups
    )
