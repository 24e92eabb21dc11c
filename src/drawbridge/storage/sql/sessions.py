"""Login sessions and remembered consents in SQL."""

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.storage.repositories import ConsentRecord, LoginSessionRecord
from drawbridge.storage.tables import consents, login_sessions


class SqlSessionRepository:
    """:class:`~drawbridge.storage.repositories.SessionRepository` on SQLAlchemy."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_session(self, session: LoginSessionRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(login_sessions).values(
                    id_hash=session.id_hash,
                    user_id=session.user_id,
                    created_at=session.created_at,
                    expires_at=session.expires_at,
                )
            )

    async def get_session(self, id_hash: str) -> LoginSessionRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(login_sessions).where(login_sessions.c.id_hash == id_hash))).first()
        return LoginSessionRecord(**row._mapping) if row else None

    async def delete_session(self, id_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(login_sessions).where(login_sessions.c.id_hash == id_hash))

    async def get_consent(self, user_id: str, client_id: str) -> ConsentRecord | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(consents).where(consents.c.user_id == user_id, consents.c.client_id == client_id)
                )
            ).first()
        return ConsentRecord(**row._mapping) if row else None

    async def put_consent(self, consent: ConsentRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                delete(consents).where(consents.c.user_id == consent.user_id, consents.c.client_id == consent.client_id)
            )
            await conn.execute(
                insert(consents).values(
                    user_id=consent.user_id,
                    client_id=consent.client_id,
                    scope=consent.scope,
                    granted_at=consent.granted_at,
                )
            )

    async def delete_consent(self, user_id: str, client_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(consents).where(consents.c.user_id == user_id, consents.c.client_id == client_id)
            )
            return result.rowcount > 0

    async def list_consents(self, user_id: str) -> list[ConsentRecord]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(consents).where(consents.c.user_id == user_id).order_by(consents.c.client_id)
            )
            return [ConsentRecord(**row._mapping) for row in rows]

    async def purge_expired_sessions(self, now: float) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(login_sessions).where(login_sessions.c.expires_at < now))
            return result.rowcount
