"""RFC 7636 Proof Key for Code Exchange, S256 only (OAuth 2.1 §4.1.1: ``plain`` is not offered)."""

import base64
import hashlib
import hmac
import re

from drawbridge.auth_server.errors import InvalidGrant, InvalidRequest

# RFC 7636 §4.1: 43-128 characters of [A-Z] / [a-z] / [0-9] / "-" / "." / "_" / "~".
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
# An S256 challenge is BASE64URL(SHA256(verifier)) without padding: exactly 43 characters.
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def validate_challenge(challenge: str | None, method: str | None) -> str:
    """Check an authorization request's PKCE parameters; return the challenge.

    Raises:
        InvalidRequest: the challenge is missing or malformed, or the method is not S256.
    """
    if not challenge:
        raise InvalidRequest("code_challenge is required (PKCE S256)")
    if method != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    if not _CHALLENGE.fullmatch(challenge):
        raise InvalidRequest("code_challenge is not a valid S256 challenge")
    return challenge


def s256(verifier: str) -> str:
    """The S256 challenge for ``verifier``."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verify(verifier: str | None, challenge: str) -> None:
    """Check a token request's ``code_verifier`` against the stored challenge, in constant time.

    Raises:
        InvalidGrant: the verifier is missing, malformed or does not match (RFC 7636 §4.6).
    """
    if not verifier or not _VERIFIER.fullmatch(verifier):
        raise InvalidGrant("code_verifier is missing or malformed")
    if not hmac.compare_digest(s256(verifier), challenge):
        raise InvalidGrant("code_verifier does not match the code_challenge")
