"""RFC 9068 JWT access tokens: minting (authorization server) and verification (resource servers, introspection).

Threats: a token minted for one resource replayed at another (audience is one resource, checked exactly);
algorithm confusion (only the asymmetric algorithms we sign with are accepted, never ``none`` or HMAC);
a token of another type passed off as an access token (``typ`` must be ``at+jwt``); expired or
not-yet-valid tokens (checked against the injected clock, with a small leeway for clock skew).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from drawbridge.clock import Clock
from drawbridge.errors import DrawbridgeError
from drawbridge.keys.store import KeyStore

ALGORITHMS = ["RS256", "ES256"]
TOKEN_TYPE = "at+jwt"  # noqa: S105 - the RFC 9068 media type, not a secret
LEEWAY_SECONDS = 30


class InvalidAccessToken(DrawbridgeError):
    """The token is not a valid access token for this audience; ``reason`` says which check failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    """The verified claims of an access token."""

    issuer: str
    subject: str
    audience: tuple[str, ...]
    client_id: str
    scopes: tuple[str, ...]
    issued_at: int
    expires_at: int
    jwt_id: str
    raw: dict[str, Any]


def new_token_id() -> str:
    """A fresh, unguessable ``jti``."""
    return secrets.token_urlsafe(18)


class AccessTokenIssuer:
    """Signs access tokens with the key store's current key."""

    def __init__(self, keys: KeyStore, *, issuer: str, ttl: int, clock: Clock) -> None:
        self._keys = keys
        self._issuer = issuer
        self._ttl = ttl
        self._clock = clock

    def mint(
        self,
        *,
        subject: str,
        audience: str,
        client_id: str,
        scopes: Sequence[str],
        extra: dict[str, Any] | None = None,
        ttl: int | None = None,
        jti: str | None = None,
    ) -> tuple[str, AccessTokenClaims]:
        """Return a signed token and its claims. ``extra`` adds claims such as ``roles`` or ``act``; ``jti`` is
        given when its id had to be recorded before minting (authorization codes: replay revocation)."""
        now = int(self._clock.now())
        claims: dict[str, Any] = {
            **(extra or {}),
            "iss": self._issuer,
            "sub": subject,
            "aud": audience,
            "client_id": client_id,
            "scope": " ".join(scopes),
            "iat": now,
            "nbf": now,
            "exp": now + (ttl or self._ttl),
            "jti": jti or new_token_id(),
        }
        key = self._keys.signing_key
        header = {"typ": TOKEN_TYPE, "alg": key.alg, "kid": key.kid}
        return jwt.encode(header, claims, key), _claims(claims)

    @property
    def ttl(self) -> int:
        return self._ttl


class AccessTokenVerifier:
    """Verifies access tokens locally against a key set.

    Args:
        key_set: returns the current verification keys (called per token, so rotations are seen).
        issuer: the only accepted ``iss``.
        clock: time source for ``exp``/``nbf``.
    """

    def __init__(self, key_set: Callable[[], KeySet], *, issuer: str, clock: Clock) -> None:
        self._key_set = key_set
        self._issuer = issuer
        self._clock = clock

    def verify(self, token: str, *, audience: str | None) -> AccessTokenClaims:
        """Verify signature, type, issuer, audience (when given) and time; return the claims.

        Raises:
            InvalidAccessToken: any check failed.
        """
        try:
            decoded = jwt.decode(token, self._key_set(), algorithms=ALGORITHMS)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidAccessToken("bad_signature_or_format") from exc
        if decoded.header.get("typ", "").lower() not in (TOKEN_TYPE, "application/at+jwt"):
            raise InvalidAccessToken("wrong_type")
        claims = decoded.claims
        if claims.get("iss") != self._issuer:
            raise InvalidAccessToken("wrong_issuer")
        parsed = _claims(claims)
        if audience is not None and audience not in parsed.audience:
            raise InvalidAccessToken("wrong_audience")
        now = self._clock.now()
        if parsed.expires_at <= now - LEEWAY_SECONDS:
            raise InvalidAccessToken("expired")
        if int(claims.get("nbf", parsed.issued_at)) > now + LEEWAY_SECONDS:
            raise InvalidAccessToken("not_yet_valid")
        return parsed


def _claims(claims: dict[str, Any]) -> AccessTokenClaims:
    try:
        audience = claims["aud"]
        return AccessTokenClaims(
            issuer=str(claims["iss"]),
            subject=str(claims["sub"]),
            audience=(audience,) if isinstance(audience, str) else tuple(str(a) for a in audience),
            client_id=str(claims["client_id"]),
            scopes=tuple(str(claims.get("scope", "")).split()),
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            jwt_id=str(claims["jti"]),
            raw=dict(claims),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidAccessToken("missing_claims") from exc
