"""The signing key store: generation, persistence, encryption at rest, rotation and the JWKS."""

import pytest
from joserfc import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.keys import KeyStore, KeyStoreError
from drawbridge.settings import KeySettings
from drawbridge.storage.sql import SqlSigningKeyRepository
from drawbridge.storage.tables import signing_keys
from drawbridge.testing import FrozenClock

TTL = 900


def _store(engine: AsyncEngine, clock: FrozenClock, **settings: object) -> KeyStore:
    return KeyStore(SqlSigningKeyRepository(engine), KeySettings(**settings), retired_key_ttl=TTL, clock=clock)  # type: ignore[arg-type]


async def test_first_load_generates_one_key_and_later_loads_reuse_it(engine: AsyncEngine, clock: FrozenClock) -> None:
    first = _store(engine, clock)
    await first.load()
    second = _store(engine, clock)
    await second.load()
    assert first.signing_key.kid == second.signing_key.kid
    assert len(second.jwks()["keys"]) == 1


async def test_jwks_has_public_parts_only(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = _store(engine, clock)
    await store.load()
    (published,) = store.jwks()["keys"]
    assert published["kty"] == "RSA"
    assert published["alg"] == "RS256"
    assert published["use"] == "sig"
    assert published["kid"] == store.signing_key.kid
    assert not {"d", "p", "q", "dp", "dq", "qi"} & published.keys()


async def test_es256_keys_when_configured(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = _store(engine, clock, algorithm="ES256")
    await store.load()
    (published,) = store.jwks()["keys"]
    assert (published["kty"], published["crv"], published["alg"]) == ("EC", "P-256", "ES256")
    assert "d" not in published


async def test_private_key_is_encrypted_at_rest_when_a_passphrase_is_set(
    engine: AsyncEngine, clock: FrozenClock
) -> None:
    store = _store(engine, clock, encryption_key="s3cret passphrase")
    await store.load()
    async with engine.connect() as conn:
        stored = (await conn.execute(select(signing_keys.c.private_key, signing_keys.c.encrypted))).one()
    assert stored.encrypted is True
    assert stored.private_key.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    reloaded = _store(engine, clock, encryption_key="s3cret passphrase")
    await reloaded.load()
    assert reloaded.signing_key.kid == store.signing_key.kid


async def test_wrong_passphrase_is_refused(engine: AsyncEngine, clock: FrozenClock) -> None:
    await _store(engine, clock, encryption_key="right").load()
    with pytest.raises(KeyStoreError):
        await _store(engine, clock, encryption_key="wrong").load()


async def test_encrypted_keys_without_passphrase_are_refused(engine: AsyncEngine, clock: FrozenClock) -> None:
    await _store(engine, clock, encryption_key="right").load()
    with pytest.raises(KeyStoreError):
        await _store(engine, clock).load()


async def test_rotation_signs_with_new_key_and_keeps_old_one_published_until_tokens_expire(
    engine: AsyncEngine, clock: FrozenClock
) -> None:
    store = _store(engine, clock)
    await store.load()
    old_kid = store.signing_key.kid
    token = jwt.encode({"alg": "RS256", "kid": old_kid}, {"sub": "alice"}, store.signing_key)

    clock.advance(60)
    new_kid = await store.rotate()

    assert new_kid != old_kid
    assert store.signing_key.kid == new_kid
    assert {k["kid"] for k in store.jwks()["keys"]} == {old_kid, new_kid}
    assert jwt.decode(token, store.key_set()).claims["sub"] == "alice"

    clock.advance(TTL + 1)
    assert [k["kid"] for k in store.jwks()["keys"]] == [new_kid]


async def test_rotation_purges_keys_retired_long_ago(engine: AsyncEngine, clock: FrozenClock) -> None:
    store = _store(engine, clock)
    await store.load()
    first = store.signing_key.kid
    await store.rotate()
    clock.advance(TTL + 1)
    await store.rotate()
    kids = [row["kid"] for row in store.describe()]
    assert first not in kids
    assert len(kids) == 2
