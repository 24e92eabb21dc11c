"""RFC 9068 access tokens: minting and local verification against a real key store and a frozen clock."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.keys import KeyStore
from drawbridge.keys.access_token import AccessTokenIssuer, AccessTokenVerifier, InvalidAccessToken
from drawbridge.settings import KeySettings
from drawbridge.storage.sql import SqlSigningKeyRepository
from drawbridge.testing import FrozenClock

ISSUER = "https://as.example"
AUDIENCE = "https://as.example/mcp"
TTL = 600
RETIRED_KEY_TTL = TTL + 300


@pytest.fixture(params=["RS256", "ES256"])
async def keys(request: pytest.FixtureRequest, engine: AsyncEngine, clock: FrozenClock) -> KeyStore:
    store = KeyStore(
        SqlSigningKeyRepository(engine),
        KeySettings(algorithm=request.param),
        retired_key_ttl=RETIRED_KEY_TTL,
        clock=clock,
    )
    await store.load()
    return store


@pytest.fixture
def issuer(keys: KeyStore, clock: FrozenClock) -> AccessTokenIssuer:
    return AccessTokenIssuer(keys, issuer=ISSUER, ttl=TTL, clock=clock)


@pytest.fixture
def verifier(keys: KeyStore, clock: FrozenClock) -> AccessTokenVerifier:
    return AccessTokenVerifier(keys.key_set, issuer=ISSUER, clock=clock)


def mint(issuer: AccessTokenIssuer, **overrides: Any) -> str:
    arguments: dict[str, Any] = {
        "subject": "user-1",
        "audience": AUDIENCE,
        "client_id": "client-1",
        "scopes": ["orders:read", "customers:read"],
        **overrides,
    }
    token, _claims = issuer.mint(**arguments)
    return token


def claims_now(clock: FrozenClock, **overrides: Any) -> dict[str, Any]:
    now = int(clock.now())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "user-1",
        "aud": AUDIENCE,
        "client_id": "client-1",
        "scope": "orders:read",
        "iat": now,
        "nbf": now,
        "exp": now + TTL,
        "jti": "jti-1",
        **overrides,
    }
    return {k: v for k, v in claims.items() if v is not None}


def signed(keys: KeyStore, claims: dict[str, Any], **header: Any) -> str:
    """A token signed by the store's signing key with a chosen header (``None`` drops a member)."""
    key = keys.signing_key
    full = {"typ": "at+jwt", "alg": key.alg, "kid": key.kid, **header}
    return jwt.encode({k: v for k, v in full.items() if v is not None}, claims, key)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_parts(header: dict[str, Any], claims: dict[str, Any]) -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"


def refused(verifier: AccessTokenVerifier, token: str, audience: str | None = AUDIENCE) -> str:
    with pytest.raises(InvalidAccessToken) as caught:
        verifier.verify(token, audience=audience)
    return caught.value.reason


# --- accepted ----------------------------------------------------------------------------------------------------


async def test_minted_token_verifies_to_the_claims_it_was_minted_with(
    keys: KeyStore, issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, clock: FrozenClock
) -> None:
    token, minted = issuer.mint(
        subject="user-1",
        audience=AUDIENCE,
        client_id="client-1",
        scopes=["orders:read", "customers:read"],
        extra={"roles": ["support"]},
    )

    verified = verifier.verify(token, audience=AUDIENCE)

    assert verified == minted
    now = int(clock.now())
    assert (verified.issuer, verified.subject, verified.audience) == (ISSUER, "user-1", (AUDIENCE,))
    assert (verified.client_id, verified.scopes) == ("client-1", ("orders:read", "customers:read"))
    assert (verified.issued_at, verified.expires_at) == (now, now + TTL)
    assert verified.jwt_id
    assert verified.raw["roles"] == ["support"]
    header = jwt.decode(token, keys.key_set()).header
    assert header == {"typ": "at+jwt", "alg": keys.signing_key.alg, "kid": keys.signing_key.kid}


async def test_each_minted_token_has_a_fresh_jti(issuer: AccessTokenIssuer, verifier: AccessTokenVerifier) -> None:
    jtis = {verifier.verify(mint(issuer), audience=AUDIENCE).jwt_id for _ in range(5)}

    assert len(jtis) == 5


async def test_minting_honours_a_per_token_ttl(
    issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, clock: FrozenClock
) -> None:
    claims = verifier.verify(mint(issuer, ttl=60), audience=AUDIENCE)

    assert claims.expires_at - claims.issued_at == 60


async def test_verification_without_an_audience_accepts_any_audience(
    issuer: AccessTokenIssuer, verifier: AccessTokenVerifier
) -> None:
    claims = verifier.verify(mint(issuer, audience="https://elsewhere.example/mcp"), audience=None)

    assert claims.audience == ("https://elsewhere.example/mcp",)


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
async def test_rfc9068_type_is_accepted_in_any_spelling(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock, typ: str
) -> None:
    assert verifier.verify(signed(keys, claims_now(clock), typ=typ), audience=AUDIENCE).jwt_id == "jti-1"


async def test_audience_list_containing_the_resource_is_accepted(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock
) -> None:
    token = signed(keys, claims_now(clock, aud=["https://other.example/mcp", AUDIENCE]))

    assert verifier.verify(token, audience=AUDIENCE).audience == ("https://other.example/mcp", AUDIENCE)


@pytest.mark.parametrize(("elapsed", "valid"), [(TTL + 29, True), (TTL + 30, False)])
async def test_expiry_allows_thirty_seconds_of_clock_skew(
    issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, clock: FrozenClock, elapsed: int, valid: bool
) -> None:
    token = mint(issuer)
    clock.advance(elapsed)

    if valid:
        verifier.verify(token, audience=AUDIENCE)
    else:
        assert refused(verifier, token) == "expired"


@pytest.mark.parametrize(("ahead", "valid"), [(30, True), (31, False)])
async def test_not_before_allows_thirty_seconds_of_clock_skew(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock, ahead: int, valid: bool
) -> None:
    now = int(clock.now())
    token = signed(keys, claims_now(clock, iat=now + ahead, nbf=now + ahead, exp=now + ahead + TTL))

    if valid:
        verifier.verify(token, audience=AUDIENCE)
    else:
        assert refused(verifier, token) == "not_yet_valid"


async def test_issued_in_the_future_without_nbf_is_not_yet_valid(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock
) -> None:
    now = int(clock.now())
    token = signed(keys, claims_now(clock, iat=now + 120, nbf=None, exp=now + 120 + TTL))

    assert refused(verifier, token) == "not_yet_valid"


async def test_token_signed_by_a_retired_key_verifies_while_the_key_is_published(
    keys: KeyStore, issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, clock: FrozenClock
) -> None:
    old_kid = keys.signing_key.kid
    before = mint(issuer)

    new_kid = await keys.rotate()
    clock.advance(TTL - 1)

    assert new_kid != old_kid
    assert old_kid in {key["kid"] for key in keys.jwks()["keys"]}
    assert verifier.verify(before, audience=AUDIENCE).subject == "user-1"
    after = mint(issuer)
    assert jwt.decode(after, keys.key_set()).header["kid"] == new_kid
    assert verifier.verify(after, audience=AUDIENCE).subject == "user-1"


async def test_token_signed_by_a_key_no_longer_published_is_refused(
    keys: KeyStore, issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, clock: FrozenClock
) -> None:
    long_lived = mint(issuer, ttl=3 * RETIRED_KEY_TTL)
    await keys.rotate()

    clock.advance(RETIRED_KEY_TTL + 1)

    assert refused(verifier, long_lived) == "bad_signature_or_format"


# --- refused -----------------------------------------------------------------------------------------------------


async def test_wrong_audience_is_refused(issuer: AccessTokenIssuer, verifier: AccessTokenVerifier) -> None:
    assert refused(verifier, mint(issuer), audience="https://other.example/mcp") == "wrong_audience"


async def test_audience_is_compared_exactly(issuer: AccessTokenIssuer, verifier: AccessTokenVerifier) -> None:
    token = mint(issuer, audience=AUDIENCE + "/")

    assert refused(verifier, token) == "wrong_audience"


async def test_audience_list_without_the_resource_is_refused(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock
) -> None:
    token = signed(keys, claims_now(clock, aud=["https://other.example/mcp"]))

    assert refused(verifier, token) == "wrong_audience"


@pytest.mark.parametrize("iss", ["https://evil.example", ISSUER + "/", None])
async def test_wrong_or_missing_issuer_is_refused(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock, iss: str | None
) -> None:
    token = signed(keys, claims_now(clock, iss=iss))

    assert refused(verifier, token) == "wrong_issuer"


async def test_verifier_of_another_issuer_refuses_our_tokens(
    keys: KeyStore, issuer: AccessTokenIssuer, clock: FrozenClock
) -> None:
    other = AccessTokenVerifier(keys.key_set, issuer="https://other-as.example", clock=clock)

    assert refused(other, mint(issuer)) == "wrong_issuer"


def _flip(text: str, index: int) -> str:
    return text[:index] + ("A" if text[index] != "A" else "B") + text[index + 1 :]


@pytest.mark.parametrize("part", [0, 1, 2], ids=["header", "payload", "signature"])
async def test_tampered_token_is_refused(issuer: AccessTokenIssuer, verifier: AccessTokenVerifier, part: int) -> None:
    parts = mint(issuer).split(".")
    parts[part] = _flip(parts[part], len(parts[part]) // 2)

    assert refused(verifier, ".".join(parts)) == "bad_signature_or_format"


async def test_payload_swapped_under_a_valid_signature_is_refused(
    issuer: AccessTokenIssuer, verifier: AccessTokenVerifier
) -> None:
    header, _payload, signature = mint(issuer).split(".")
    _header, payload, _signature = mint(issuer, scopes=["refunds:write"]).split(".")

    assert refused(verifier, f"{header}.{payload}.{signature}") == "bad_signature_or_format"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
async def test_unsigned_alg_none_token_is_refused(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock, alg: str
) -> None:
    token = unsigned_parts({"typ": "at+jwt", "alg": alg, "kid": keys.signing_key.kid}, claims_now(clock)) + "."

    assert refused(verifier, token) == "bad_signature_or_format"


@pytest.mark.parametrize("encoding", ["pem", "jwk-json"])
@pytest.mark.parametrize("alg", ["HS256", "HS384", "HS512"])
async def test_hmac_token_keyed_with_the_public_key_is_refused(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock, alg: str, encoding: str
) -> None:
    """Algorithm confusion: the attacker knows the public key and signs with it as an HMAC secret."""
    public = keys.signing_key
    secret = public.as_pem(private=False) if encoding == "pem" else json.dumps(public.as_dict(private=False)).encode()
    signing_input = unsigned_parts({"typ": "at+jwt", "alg": alg, "kid": public.kid}, claims_now(clock))
    digest = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}[alg]
    signature = hmac.new(secret, signing_input.encode(), digest).digest()

    assert refused(verifier, f"{signing_input}.{b64(signature)}") == "bad_signature_or_format"


@pytest.mark.parametrize("typ", ["JWT", "jwt", "application/jwt", "dpop+jwt", "id_token+jwt", None])
async def test_token_of_another_type_is_refused(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock, typ: str | None
) -> None:
    token = signed(keys, claims_now(clock), typ=typ)

    assert refused(verifier, token) == "wrong_type"


@pytest.mark.parametrize("kid", ["own", "stolen", None], ids=["own-kid", "our-kid", "no-kid"])
async def test_token_signed_by_an_unknown_key_is_refused(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock, kid: str | None
) -> None:
    stranger = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"})
    header: dict[str, Any] = {"typ": "at+jwt", "alg": "RS256"}
    if kid == "own":
        header["kid"] = stranger.thumbprint()
    elif kid == "stolen":
        header["kid"] = keys.signing_key.kid

    token = jwt.encode(header, claims_now(clock), stranger)

    assert refused(verifier, token) == "bad_signature_or_format"


@pytest.mark.parametrize("claim", ["sub", "aud", "client_id", "iat", "exp", "jti"])
async def test_token_missing_a_required_claim_is_refused(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock, claim: str
) -> None:
    token = signed(keys, claims_now(clock, **{claim: None}))

    assert refused(verifier, token, audience=None) == "missing_claims"


@pytest.mark.parametrize(("claim", "value"), [("exp", "tomorrow"), ("iat", "now"), ("aud", 42), ("exp", None)])
async def test_token_with_a_malformed_claim_is_refused(
    keys: KeyStore, verifier: AccessTokenVerifier, clock: FrozenClock, claim: str, value: Any
) -> None:
    claims = claims_now(clock)
    claims[claim] = value

    assert refused(verifier, signed(keys, claims), audience=None) == "missing_claims"


@pytest.mark.parametrize("token", ["", "garbage", "a.b", "a.b.c", "a.b.c.d.e", "...", "\u00e9.\u00e9.\u00e9"])
async def test_garbage_is_refused(verifier: AccessTokenVerifier, token: str) -> None:
    assert refused(verifier, token) == "bad_signature_or_format"
