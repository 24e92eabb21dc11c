"""Signing keys in SQL."""

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.storage.repositories import SigningKeyRecord
from drawbridge.storage.tables import signing_keys


class SqlSigningKeyRepository:
    """:class:`~drawbridge.storage.repositories.SigningKeyRepository` on SQLAlchemy."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, key: SigningKeyRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(signing_keys).values(
                    kid=key.kid,
                    algorithm=key.algorithm,
                    private_key=key.private_key,
                    encrypted=key.encrypted,
                    created_at=key.created_at,
                    retired_at=key.retired_at,
                )
            )

    async def list_all(self) -> list[SigningKeyRecord]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(signing_keys).order_by(signing_keys.c.created_at.desc()))
            return [SigningKeyRecord(**row._mapping) for row in rows]

    async def retire_all_except(self, kid: str, at: float) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(signing_keys)
                .where(signing_keys.c.kid != kid, signing_keys.c.retired_at.is_(None))
                .values(retired_at=at)
            )
            return result.rowcount

    async def delete_retired_before(self, before: float) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(signing_keys).where(signing_keys.c.retired_at.is_not(None), signing_keys.c.retired_at < before)
            )
            return result.rowcount
