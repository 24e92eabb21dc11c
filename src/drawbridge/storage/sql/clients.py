"""Registered clients in SQL."""

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.storage.repositories import ClientRecord
from drawbridge.storage.tables import clients


class SqlClientRepository:
    """:class:`~drawbridge.storage.repositories.ClientRepository` on SQLAlchemy."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, client: ClientRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(clients).values(
                    client_id=client.client_id,
                    metadata=client.metadata,
                    secret_hash=client.secret_hash,
                    created_at=client.created_at,
                    last_used_at=client.last_used_at,
                )
            )

    async def get(self, client_id: str) -> ClientRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(clients).where(clients.c.client_id == client_id))).first()
        return ClientRecord(**row._mapping) if row else None

    async def touch(self, client_id: str, at: float) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(clients).where(clients.c.client_id == client_id).values(last_used_at=at))

    async def delete_unused_before(self, before: float) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(clients).where(clients.c.last_used_at.is_(None), clients.c.created_at < before)
            )
            return result.rowcount
