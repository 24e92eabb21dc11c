"""Users of the built-in directory in SQL."""

from typing import Any

from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.storage.errors import DuplicateError
from drawbridge.storage.repositories import UserRecord
from drawbridge.storage.tables import users


class SqlUserRepository:
    """:class:`~drawbridge.storage.repositories.UserRepository` on SQLAlchemy.

    Roles are stored as a JSON list (portable across SQLite and PostgreSQL) and come back as a tuple.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, user: UserRecord) -> None:
        try:
            async with self._engine.begin() as conn:
                await conn.execute(
                    insert(users).values(
                        id=user.id,
                        username=user.username,
                        password_hash=user.password_hash,
                        roles=list(user.roles),
                        groups=list(user.groups),
                        disabled=user.disabled,
                        created_at=user.created_at,
                    )
                )
        except IntegrityError as exc:
            # The unique index on username is the arbiter: a check-then-insert would race.
            raise DuplicateError(f"user {user.username!r} already exists") from exc

    async def get(self, user_id: str) -> UserRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).one_or_none()
        return None if row is None else _record(row)

    async def get_by_username(self, username: str) -> UserRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.username == username))).one_or_none()
        return None if row is None else _record(row)

    async def list_all(self) -> list[UserRecord]:
        async with self._engine.connect() as conn:
            rows = await conn.execute(select(users).order_by(users.c.username))
            return [_record(row) for row in rows]

    async def set_disabled(self, username: str, disabled: bool) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(update(users).where(users.c.username == username).values(disabled=disabled))
            return result.rowcount > 0

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(update(users).where(users.c.id == user_id).values(password_hash=password_hash))


def _record(row: Row[Any]) -> UserRecord:
    return UserRecord(
        id=row.id,
        username=row.username,
        password_hash=row.password_hash,
        roles=tuple(row.roles),
        disabled=row.disabled,
        created_at=row.created_at,
        groups=tuple(row.groups),
    )
