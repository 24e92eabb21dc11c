"""The built-in user directory: adding users, argon2id hashes, authentication, disabling."""

import uuid

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.identity import InvalidRole, InvalidUsername, UnknownUser, User, UserDirectory, UserExists, WeakPassword
from drawbridge.storage.sql import SqlUserRepository
from drawbridge.storage.tables import users
from drawbridge.testing import FrozenClock

PASSWORD = "correct horse battery staple"


def _cheap_hasher(time_cost: int = 1) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=1024, parallelism=1)


class _CountingHasher(PasswordHasher):
    """Argon2 with cheap parameters that counts verifications (a fake at the third-party seam)."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=1024, parallelism=1)
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)


def _directory(engine: AsyncEngine, clock: FrozenClock, hasher: PasswordHasher | None = None) -> UserDirectory:
    return UserDirectory(SqlUserRepository(engine), clock, hasher=hasher or _cheap_hasher())


async def _count_users(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(users))).scalar_one()


async def _stored_hash(engine: AsyncEngine, username: str) -> str:
    async with engine.connect() as conn:
        return (await conn.execute(select(users.c.password_hash).where(users.c.username == username))).scalar_one()


async def test_added_user_authenticates_with_roles(engine: AsyncEngine, clock: FrozenClock) -> None:
    directory = _directory(engine, clock)
    added = await directory.add_user("alice", PASSWORD, ["admin", "reader"])

    authenticated = await directory.authenticate("alice", PASSWORD)

    assert authenticated == User(id=added.id, username="alice", roles=("admin", "reader"), disabled=False)
    assert uuid.UUID(hex=added.id).version == 4
    assert added.id == uuid.UUID(hex=added.id).hex


async def test_repeated_roles_are_kept_once_in_order(engine: AsyncEngine, clock: FrozenClock) -> None:
    added = await _directory(engine, clock).add_user("alice", PASSWORD, ["reader", "admin", "reader"])
    assert added.roles == ("reader", "admin")


async def test_wrong_password_is_refused(engine: AsyncEngine, clock: FrozenClock) -> None:
    directory = _directory(engine, clock)
    await directory.add_user("alice", PASSWORD, ["reader"])
    assert await directory.authenticate("alice", PASSWORD + "!") is None
    assert await directory.authenticate("alice", "x" * 1025) is None


async def test_unknown_user_is_refused_after_the_same_argon2_work(engine: AsyncEngine, clock: FrozenClock) -> None:
    hasher = _CountingHasher()
    directory = _directory(engine, clock, hasher)
    await directory.add_user("alice", PASSWORD, [])

    assert await directory.authenticate("mallory", PASSWORD) is None
    assert await directory.authenticate("not a valid name", PASSWORD) is None
    assert await directory.authenticate("alice", "wrong password") is None

    assert hasher.verifications == 3


async def test_disabled_user_is_refused_until_enabled(engine: AsyncEngine, clock: FrozenClock) -> None:
    directory = _directory(engine, clock)
    added = await directory.add_user("alice", PASSWORD, ["reader"])

    await directory.set_disabled("alice", True)
    assert await directory.authenticate("alice", PASSWORD) is None
    assert await directory.get(added.id) == User(id=added.id, username="alice", roles=("reader",), disabled=True)

    await directory.set_disabled("alice", False)
    assert await directory.authenticate("alice", PASSWORD) == added


async def test_disabling_an_unknown_user_raises(engine: AsyncEngine, clock: FrozenClock) -> None:
    with pytest.raises(UnknownUser):
        await _directory(engine, clock).set_disabled("nobody", True)


async def test_duplicate_username_raises_and_writes_nothing(engine: AsyncEngine, clock: FrozenClock) -> None:
    directory = _directory(engine, clock)
    first = await directory.add_user("alice", PASSWORD, ["reader"])

    with pytest.raises(UserExists):
        await directory.add_user("alice", "another password", ["admin"])

    assert await _count_users(engine) == 1
    assert await directory.authenticate("alice", PASSWORD) == first


@pytest.mark.parametrize(
    "username",
    ["", "-alice", ".alice", "al ice", "alice\n", "al/ice", "ålice", "a" * 129],
)
async def test_invalid_username_is_refused_and_nothing_written(
    engine: AsyncEngine, clock: FrozenClock, username: str
) -> None:
    with pytest.raises(InvalidUsername):
        await _directory(engine, clock).add_user(username, PASSWORD, [])
    assert await _count_users(engine) == 0


@pytest.mark.parametrize("username", ["a", "A1", "alice.smith@example.com", "bob_2-x", "a" * 128])
async def test_valid_usernames_are_accepted(engine: AsyncEngine, clock: FrozenClock, username: str) -> None:
    directory = _directory(engine, clock)
    await directory.add_user(username, PASSWORD, [])
    assert await directory.authenticate(username, PASSWORD) is not None


@pytest.mark.parametrize("roles", [[""], ["Admin"], ["1admin"], ["ad min"], ["reader", "a" * 65]])
async def test_invalid_role_is_refused_and_nothing_written(
    engine: AsyncEngine, clock: FrozenClock, roles: list[str]
) -> None:
    with pytest.raises(InvalidRole):
        await _directory(engine, clock).add_user("alice", PASSWORD, roles)
    assert await _count_users(engine) == 0


async def test_a_single_string_is_not_taken_for_a_list_of_roles(engine: AsyncEngine, clock: FrozenClock) -> None:
    with pytest.raises(TypeError):
        await _directory(engine, clock).add_user("alice", PASSWORD, "admin")
    assert await _count_users(engine) == 0


@pytest.mark.parametrize("password", ["", "seven77", "x" * 1025])
async def test_weak_password_is_refused_and_nothing_written(
    engine: AsyncEngine, clock: FrozenClock, password: str
) -> None:
    with pytest.raises(WeakPassword):
        await _directory(engine, clock).add_user("alice", password, [])
    assert await _count_users(engine) == 0


@pytest.mark.parametrize("password", ["eight888", "x" * 1024])
async def test_password_length_bounds_are_inclusive(engine: AsyncEngine, clock: FrozenClock, password: str) -> None:
    directory = _directory(engine, clock)
    await directory.add_user("alice", password, [])
    assert await directory.authenticate("alice", password) is not None


async def test_stored_hash_is_an_argon2id_phc_string_not_the_password(engine: AsyncEngine, clock: FrozenClock) -> None:
    await _directory(engine, clock).add_user("alice", PASSWORD, [])
    stored = await _stored_hash(engine, "alice")
    assert stored.startswith("$argon2id$v=19$m=1024,t=1,p=1$")
    assert PASSWORD not in stored
    assert PasswordHasher().verify(stored, PASSWORD)


async def test_login_upgrades_hash_when_parameters_change(engine: AsyncEngine, clock: FrozenClock) -> None:
    await _directory(engine, clock, _cheap_hasher(time_cost=1)).add_user("alice", PASSWORD, [])
    old = await _stored_hash(engine, "alice")
    stronger = _directory(engine, clock, _cheap_hasher(time_cost=2))

    assert await stronger.authenticate("alice", PASSWORD) is not None

    new = await _stored_hash(engine, "alice")
    assert new != old
    assert new.startswith("$argon2id$v=19$m=1024,t=2,p=1$")
    assert await stronger.authenticate("alice", PASSWORD) is not None
    assert await _stored_hash(engine, "alice") == new


async def test_login_keeps_hash_when_parameters_are_current(engine: AsyncEngine, clock: FrozenClock) -> None:
    directory = _directory(engine, clock)
    await directory.add_user("alice", PASSWORD, [])
    before = await _stored_hash(engine, "alice")
    await directory.authenticate("alice", PASSWORD)
    assert await _stored_hash(engine, "alice") == before


async def test_failed_login_never_upgrades_hash(engine: AsyncEngine, clock: FrozenClock) -> None:
    await _directory(engine, clock, _cheap_hasher(time_cost=1)).add_user("alice", PASSWORD, [])
    before = await _stored_hash(engine, "alice")
    assert await _directory(engine, clock, _cheap_hasher(time_cost=2)).authenticate("alice", "wrong password") is None
    assert await _stored_hash(engine, "alice") == before


async def test_unreadable_stored_hash_refuses_login(engine: AsyncEngine, clock: FrozenClock) -> None:
    directory = _directory(engine, clock)
    await directory.add_user("alice", PASSWORD, [])
    async with engine.begin() as conn:
        await conn.execute(update(users).values(password_hash="not-a-phc-string"))
    assert await directory.authenticate("alice", PASSWORD) is None


async def test_get_and_list_users(engine: AsyncEngine, clock: FrozenClock) -> None:
    directory = _directory(engine, clock)
    carol = await directory.add_user("carol", PASSWORD, [])
    alice = await directory.add_user("alice", PASSWORD, ["admin"])
    bob = await directory.add_user("bob", PASSWORD, ["reader"])

    assert await directory.list_users() == [alice, bob, carol]
    assert await directory.get(bob.id) == bob
    assert await directory.get(uuid.uuid4().hex) is None


async def test_created_at_comes_from_the_clock(engine: AsyncEngine, clock: FrozenClock) -> None:
    clock.advance(42)
    await _directory(engine, clock).add_user("alice", PASSWORD, [])
    async with engine.connect() as conn:
        created_at = (await conn.execute(select(users.c.created_at))).scalar_one()
    assert created_at == clock.now()


async def test_groups_are_stored_once_each_and_listed(engine: AsyncEngine, clock: FrozenClock) -> None:
    directory = _directory(engine, clock)
    added = await directory.add_user("alice", PASSWORD, ["support"], ["uk", "night-shift", "uk"])

    assert added.groups == ("uk", "night-shift")
    assert [u.groups for u in await directory.list_users()] == [("uk", "night-shift")]
    assert (await directory.authenticate("alice", PASSWORD)) == added


@pytest.mark.parametrize("groups", [["UK"], ["uk team"], [""]])
async def test_invalid_group_is_refused_and_nothing_written(
    engine: AsyncEngine, clock: FrozenClock, groups: list[str]
) -> None:
    with pytest.raises(InvalidRole, match="invalid role"):
        await _directory(engine, clock).add_user("alice", PASSWORD, ["support"], groups)
    assert await _count_users(engine) == 0
