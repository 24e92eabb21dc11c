"""Authorization requests, codes, refresh token families and revoked access tokens in SQL.

Single use is enforced by the database, not by a read-then-write in Python: ``UPDATE … WHERE used_at IS NULL``
succeeds for exactly one of two concurrent redemptions, on every replica.
"""

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.storage.repositories import AuthorizationCodeRecord, AuthorizationRequestRecord, RefreshTokenRecord
from drawbridge.storage.tables import (
    authorization_codes,
    authorization_requests,
    refresh_families,
    refresh_tokens,
    revoked_tokens,
)

_MAX_ACCESS_TOKEN_TTL = 3600


class SqlGrantRepository:
    """:class:`~drawbridge.storage.repositories.GrantRepository` on SQLAlchemy."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add_request(self, request: AuthorizationRequestRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(authorization_requests).values(**_fields(request)))

    async def get_request(self, request_id: str) -> AuthorizationRequestRecord | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(select(authorization_requests).where(authorization_requests.c.id == request_id))
            ).first()
        return AuthorizationRequestRecord(**row._mapping) if row else None

    async def delete_request(self, request_id: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(authorization_requests).where(authorization_requests.c.id == request_id))
            return result.rowcount > 0

    async def add_code(self, code: AuthorizationCodeRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(insert(authorization_codes).values(**_fields(code)))

    async def consume_code(
        self, code_hash: str, at: float, *, family_id: str, access_jti: str
    ) -> tuple[AuthorizationCodeRecord | None, bool]:
        table = authorization_codes
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(table)
                .where(table.c.code_hash == code_hash, table.c.used_at.is_(None))
                .values(used_at=at, family_id=family_id, access_jti=access_jti)
            )
            row = (await conn.execute(select(table).where(table.c.code_hash == code_hash))).first()
        return (AuthorizationCodeRecord(**row._mapping) if row else None), result.rowcount == 1

    async def add_family(self, family_id: str, client_id: str, user_id: str, at: float) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(refresh_families).values(id=family_id, client_id=client_id, user_id=user_id, created_at=at)
                )
        except IntegrityError:
            pass  # a racing replay created it revoked first: keep it revoked

    async def add_refresh(self, token: RefreshTokenRecord) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(refresh_tokens).values(
                    token_hash=token.token_hash,
                    family_id=token.family_id,
                    scope=token.scope,
                    resource=token.resource,
                    created_at=token.created_at,
                    expires_at=token.expires_at,
                    used_at=token.used_at,
                    access_jti=token.access_jti,
                )
            )

    async def get_refresh(self, token_hash: str) -> RefreshTokenRecord | None:
        query = (
            select(
                refresh_tokens,
                refresh_families.c.client_id,
                refresh_families.c.user_id,
                refresh_families.c.revoked_at.is_not(None).label("family_revoked"),
            )
            .join(refresh_families, refresh_families.c.id == refresh_tokens.c.family_id)
            .where(refresh_tokens.c.token_hash == token_hash)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return RefreshTokenRecord(**row._mapping) if row else None

    async def use_refresh(self, token_hash: str, at: float) -> bool:
        table = refresh_tokens
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(table).where(table.c.token_hash == token_hash, table.c.used_at.is_(None)).values(used_at=at)
            )
            return result.rowcount == 1

    async def revoke_family(self, family_id: str, at: float, *, client_id: str = "", user_id: str = "") -> None:
        table = refresh_families
        async with self._engine.begin() as conn:
            exists = (await conn.execute(select(table.c.id).where(table.c.id == family_id))).first()
            if exists:
                await conn.execute(
                    update(table).where(table.c.id == family_id, table.c.revoked_at.is_(None)).values(revoked_at=at)
                )
        if exists:
            await self._revoke_family_access_tokens(family_id, at)
            return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(table).values(
                        id=family_id, client_id=client_id, user_id=user_id, created_at=at, revoked_at=at
                    )
                )
        except IntegrityError:
            await self.revoke_family(family_id, at)  # created meanwhile: revoke the row that now exists

    async def revoke_families_of(self, user_id: str, client_id: str, at: float) -> int:
        table = refresh_families
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(table)
                .where(table.c.user_id == user_id, table.c.client_id == client_id, table.c.revoked_at.is_(None))
                .values(revoked_at=at)
            )
            return result.rowcount

    async def _revoke_family_access_tokens(self, family_id: str, at: float) -> None:
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(refresh_tokens.c.access_jti).where(
                    refresh_tokens.c.family_id == family_id, refresh_tokens.c.access_jti.is_not(None)
                )
            )
            jtis = [row.access_jti for row in rows]
        for jti in jtis:
            # Access tokens live at most an hour (TokenSettings.access_token_ttl <= 3600): keep the row that long.
            await self.revoke_access_token(jti, at + _MAX_ACCESS_TOKEN_TTL)

    async def revoke_access_token(self, jti: str, expires_at: float) -> None:
        try:
            async with self._engine.begin() as conn:
                exists = (await conn.execute(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti))).first()
                if not exists:
                    await conn.execute(insert(revoked_tokens).values(jti=jti, expires_at=expires_at))
        except IntegrityError:
            pass  # revoked concurrently by another request: the row is there, which is all that matters

    async def is_access_token_revoked(self, jti: str) -> bool:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(revoked_tokens.c.jti).where(revoked_tokens.c.jti == jti))).first()
        return row is not None

    async def purge_expired(self, now: float) -> int:
        removed = 0
        async with self._engine.begin() as conn:
            for table in (authorization_requests, authorization_codes, refresh_tokens, revoked_tokens):
                result = await conn.execute(delete(table).where(table.c.expires_at < now))
                removed += result.rowcount
        return removed


def _fields(record: object) -> dict[str, object]:
    return {name: getattr(record, name) for name in record.__slots__}  # type: ignore[attr-defined]  # slotted dataclasses
