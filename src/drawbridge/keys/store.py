"""The signing key store.

Threats handled here: a stolen database file must not yield usable signing keys (private keys are
PKCS#8-encrypted at rest when ``keys.encryption_key`` is set); rotation must not break tokens in flight
(a retired key stays in the JWKS, for verification only, until every token it signed has expired).

Exactly one key signs: the newest unretired one. ``rotate`` adds a key and retires the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import structlog
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, RSAKey

from drawbridge.clock import Clock
from drawbridge.errors import DrawbridgeError
from drawbridge.settings import KeySettings
from drawbridge.storage.repositories import SigningKeyRecord, SigningKeyRepository

log = structlog.get_logger(__name__)

SigningKey: TypeAlias = RSAKey | ECKey


class KeyStoreError(DrawbridgeError):
    """Keys cannot be loaded or used (e.g. wrong or missing encryption key)."""


@dataclass(frozen=True, slots=True)
class _LoadedKey:
    kid: str
    key: SigningKey
    created_at: float
    retired_at: float | None


class KeyStore:
    """Holds the signing keys in memory, backed by a repository.

    Args:
        repository: where keys persist.
        settings: algorithm for new keys and the at-rest passphrase.
        retired_key_ttl: seconds a retired key stays published; at least the longest token lifetime.
        clock: time source.
    """

    def __init__(
        self, repository: SigningKeyRepository, settings: KeySettings, *, retired_key_ttl: float, clock: Clock
    ) -> None:
        self._repository = repository
        self._settings = settings
        self._retired_key_ttl = retired_key_ttl
        self._clock = clock
        self._keys: list[_LoadedKey] = []

    async def load(self) -> None:
        """Load every stored key; generate the first signing key when there is none.

        Raises:
            KeyStoreError: a stored key cannot be decrypted with the configured passphrase.
        """
        records = await self._repository.list_all()
        if not any(record.retired_at is None for record in records):
            records.insert(0, await self._generate())
            log.info("signing_key_generated", kid=records[0].kid, algorithm=records[0].algorithm)
        self._keys = [self._decode(record) for record in records]
        if self._settings.encryption_key is None:
            log.warning("signing_keys_not_encrypted", hint="set keys.encryption_key (DRAWBRIDGE_KEYS__ENCRYPTION_KEY)")

    async def rotate(self) -> str:
        """Make a new key the signing key and retire the others; return the new ``kid``."""
        record = await self._generate()
        await self._repository.retire_all_except(record.kid, self._clock.now())
        await self._repository.delete_retired_before(self._clock.now() - self._retired_key_ttl)
        await self.load()
        log.info("signing_key_rotated", kid=record.kid)
        return record.kid

    @property
    def signing_key(self) -> SigningKey:
        """The key that signs new tokens."""
        for loaded in self._keys:
            if loaded.retired_at is None:
                return loaded.key
        raise KeyStoreError("no signing key loaded: call load() first")

    def published(self) -> list[SigningKey]:
        """Keys whose signatures may still be on unexpired tokens: the signing key and recently retired ones."""
        horizon = self._clock.now() - self._retired_key_ttl
        return [k.key for k in self._keys if k.retired_at is None or k.retired_at > horizon]

    def kids(self) -> set[str]:
        """Ids of the published keys."""
        return {str(key.kid) for key in self.published()}

    def key_set(self) -> KeySet:
        """The published keys, for verifying tokens."""
        return KeySet(self.published())  # type: ignore[arg-type]  # KeySet accepts any JWK; stub is narrower

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document (RFC 7517); private parts are never included."""
        return {"keys": [key.as_dict(private=False) for key in self.published()]}

    def describe(self) -> list[dict[str, Any]]:
        """What an operator sees in ``drawbridge keys list``."""
        published = {id(k) for k in self.published()}
        return [
            {
                "kid": k.kid,
                "algorithm": k.key.alg,
                "created_at": k.created_at,
                "retired_at": k.retired_at,
                "signing": k.retired_at is None,
                "published": id(k.key) in published,
            }
            for k in self._keys
        ]

    async def _generate(self) -> SigningKeyRecord:
        algorithm = self._settings.algorithm
        parameters: dict[str, Any] = {"use": "sig", "alg": algorithm}
        key: SigningKey = (
            RSAKey.generate_key(2048, parameters=parameters)  # type: ignore[arg-type]  # TypedDict in the stub
            if algorithm == "RS256"
            else ECKey.generate_key("P-256", parameters=parameters)  # type: ignore[arg-type]
        )
        passphrase = self._passphrase()
        record = SigningKeyRecord(
            kid=key.thumbprint(),
            algorithm=algorithm,
            private_key=key.as_pem(private=True, password=passphrase),
            encrypted=passphrase is not None,
            created_at=self._clock.now(),
        )
        await self._repository.add(record)
        return record

    def _decode(self, record: SigningKeyRecord) -> _LoadedKey:
        passphrase = self._passphrase() if record.encrypted else None
        if record.encrypted and passphrase is None:
            raise KeyStoreError(f"signing key {record.kid} is encrypted but keys.encryption_key is not set")
        key_type = RSAKey if record.algorithm == "RS256" else ECKey
        parameters = {"use": "sig", "alg": record.algorithm, "kid": record.kid}
        try:
            key = key_type.import_key(record.private_key, parameters=parameters, password=passphrase)  # type: ignore[arg-type]
        except (ValueError, TypeError, JoseError) as exc:
            raise KeyStoreError(f"cannot decrypt signing key {record.kid}: is keys.encryption_key right?") from exc
        return _LoadedKey(kid=record.kid, key=key, created_at=record.created_at, retired_at=record.retired_at)

    def _passphrase(self) -> str | None:
        secret = self._settings.encryption_key
        return secret.get_secret_value() if secret is not None else None
