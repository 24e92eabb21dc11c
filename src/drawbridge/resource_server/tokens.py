"""Access-token validation for the MCP endpoint: local, cached, and revocation-aware within a bounded time.

Threats: tokens minted for another resource (audience must be exactly this endpoint: no passthrough, no confused
deputy); forged or expired tokens; revoked tokens (the revocation list is consulted at most every
``revocation_check_seconds`` per token, so a revocation takes effect within that bound); key rotation on another
replica (an unknown ``kid`` triggers one key reload, rate limited).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from joserfc import jws
from joserfc.errors import JoseError

from drawbridge.clock import Clock
from drawbridge.keys.access_token import AccessTokenClaims, AccessTokenVerifier, InvalidAccessToken

_CACHE_SIZE = 10_000
_KEY_RELOAD_INTERVAL = 30.0


class RevocationList(Protocol):
    """Where revoked access-token ids are recorded."""

    async def is_access_token_revoked(self, jti: str) -> bool: ...


@dataclass(slots=True)
class _Entry:
    claims: AccessTokenClaims
    checked_at: float


class TokenValidator:
    """Validates bearer tokens for one audience.

    Args:
        verifier: signature, type, issuer and time checks.
        audience: the resource identifier tokens must be minted for.
        revocations: the revocation list.
        reload_keys: reloads the signing keys (after a rotation elsewhere).
        known_kids: the key ids currently loaded.
    """

    def __init__(
        self,
        verifier: AccessTokenVerifier,
        *,
        audience: str,
        revocations: RevocationList,
        reload_keys: Callable[[], Awaitable[None]],
        known_kids: Callable[[], set[str]],
        clock: Clock,
        revocation_check_seconds: float,
    ) -> None:
        self._verifier = verifier
        self._audience = audience
        self._revocations = revocations
        self._reload_keys = reload_keys
        self._known_kids = known_kids
        self._clock = clock
        self._recheck = revocation_check_seconds
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._last_reload = float("-inf")

    async def validate(self, token: str) -> AccessTokenClaims:
        """The token's claims when it is valid for this resource right now.

        Raises:
            InvalidAccessToken: any check failed (``reason`` says which; never shown to clients).
        """
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock.now()
        entry = self._cache.get(key)
        if entry is None:
            entry = _Entry(await self._verify(token), checked_at=float("-inf"))
        elif entry.claims.expires_at <= now:
            self._cache.pop(key, None)
            raise InvalidAccessToken("expired")
        if now - entry.checked_at >= self._recheck:
            if await self._revocations.is_access_token_revoked(entry.claims.jwt_id):
                self._cache.pop(key, None)
                raise InvalidAccessToken("revoked")
            entry.checked_at = now
        self._remember(key, entry)
        return entry.claims

    async def _verify(self, token: str) -> AccessTokenClaims:
        try:
            return self._verifier.verify(token, audience=self._audience)
        except InvalidAccessToken as exc:
            if exc.reason != "bad_signature_or_format" or not await self._reloaded_for(token):
                raise
        return self._verifier.verify(token, audience=self._audience)

    async def _reloaded_for(self, token: str) -> bool:
        """Reload keys once per interval when the token names a key we don't have."""
        try:
            kid = jws.extract_compact(token.encode()).protected.get("kid")
        except (JoseError, ValueError):
            return False
        now = self._clock.now()
        if not isinstance(kid, str) or kid in self._known_kids() or now - self._last_reload < _KEY_RELOAD_INTERVAL:
            return False
        self._last_reload = now
        await self._reload_keys()
        return kid in self._known_kids()

    def _remember(self, key: str, entry: _Entry) -> None:
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
