"""The demo's storage: a deterministic seed, an idempotent schema, and the facts docs/demo.md quotes."""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.demo import DEMO_USERS, DemoStore, ensure_demo_users
from drawbridge.demo.seed import DAY, SEED_EPOCH
from drawbridge.demo.store import customers, orders, refunds
from drawbridge.identity import UserDirectory
from drawbridge.storage.database import Reader, create_engine
from drawbridge.storage.sql import SqlUserRepository
from drawbridge.testing import FrozenClock

# The example ids docs/demo.md lists; if the seed changes, these tests fail before the docs go stale.
DOCUMENTED_ORDER_STATUSES = {1: "refunded", 2: "delivered", 9: "cancelled", 10: "delivered", 76: "shipped", 79: "paid"}
DOCUMENTED_ORDER_STATUSES |= {80: "placed"}
DOCUMENTED_ORDERS_PER_CUSTOMER = {1: 3, 9: 8, 10: 0, 24: 11}
DOCUMENTED_STATUS_COUNTS = {"delivered": 67, "refunded": 7, "shipped": 3, "cancelled": 1, "paid": 1, "placed": 1}

_PHONE = re.compile(r"\+44 7911 1\d{5}")
_NI_LETTER = "[A-CEGHJ-PR-TW-Z]"  # HMRC never uses D, F, I, Q, U or V in a prefix
_NI = re.compile(rf"{_NI_LETTER}[A-CEGHJ-NPR-TW-Z] \d\d \d\d \d\d [A-D]")  # ... nor O second
_POSTCODE = re.compile(r", [A-Z][A-Za-z ]+ [A-Z]{1,2}\d{1,2} \d[ABD-HJLNP-UW-Z]{2}$")
_EMAIL = re.compile(r"[a-z]+\.[a-z]+\d+@example\.(com|co\.uk)")


async def _rows(engine: AsyncEngine, table: Table) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(row._mapping) for row in await conn.execute(select(table).order_by(table.c.id))]


async def _count(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def _seeded(engine: AsyncEngine, clock: FrozenClock, reader: Reader) -> DemoStore:
    store = DemoStore(engine, clock, reader)
    await store.ensure_schema()
    return store


async def test_ensure_schema_seeds_customers_and_orders_with_ids_from_one(
    engine: AsyncEngine, clock: FrozenClock, reader: Reader
):
    await _seeded(engine, clock, reader)

    assert [row["id"] for row in await _rows(engine, customers)] == list(range(1, 26))
    assert [row["id"] for row in await _rows(engine, orders)] == list(range(1, 81))
    assert await _count(engine, refunds) == 0


async def test_two_fresh_databases_get_identical_rows(
    engine: AsyncEngine, clock: FrozenClock, reader: Reader, tmp_path: Path
):
    other = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'other.sqlite'}")
    other_reader = Reader(other)
    try:
        await _seeded(engine, clock, reader)
        clock.advance(1000 * DAY)  # the seed never reads the clock
        await _seeded(other, clock, other_reader)

        for table in (customers, orders):
            assert await _rows(engine, table) == await _rows(other, table)
    finally:
        other_reader.dispose()
        await other.dispose()


async def test_ensure_schema_twice_keeps_the_same_rows(engine: AsyncEngine, clock: FrozenClock, reader: Reader):
    await _seeded(engine, clock, reader)
    before = [await _rows(engine, table) for table in (customers, orders, refunds)]

    await _seeded(engine, clock, reader)

    assert [await _rows(engine, table) for table in (customers, orders, refunds)] == before


async def test_concurrent_first_starts_seed_once(engine: AsyncEngine, clock: FrozenClock, reader: Reader):
    await asyncio.gather(
        DemoStore(engine, clock, reader).ensure_schema(), DemoStore(engine, clock, reader).ensure_schema()
    )

    assert await _count(engine, customers) == 25
    assert await _count(engine, orders) == 80


async def test_documented_example_ids_hold(engine: AsyncEngine, clock: FrozenClock, reader: Reader):
    store = await _seeded(engine, clock, reader)
    rows = await _rows(engine, orders)

    assert {o["id"]: o["status"] for o in rows if o["id"] in DOCUMENTED_ORDER_STATUSES} == DOCUMENTED_ORDER_STATUSES
    assert Counter(o["status"] for o in rows) == DOCUMENTED_STATUS_COUNTS
    for customer_id, count in DOCUMENTED_ORDERS_PER_CUSTOMER.items():
        assert len(await store.orders_of(customer_id)) == count
    assert {o.status for o in await store.orders_of(1)} == {"delivered"}
    big = [o["id"] for o in rows if o["total_pence"] > 50_000 and o["status"] == "delivered"]
    assert big[0] == 10  # the first delivered order over the default refund limit


async def test_documented_recent_orders_depend_on_the_clock(engine: AsyncEngine, clock: FrozenClock, reader: Reader):
    clock.current = SEED_EPOCH
    store = await _seeded(engine, clock, reader)

    assert [o.id for o in await store.orders_of(9, within_days=30)] == [75, 73, 69]
    clock.advance(365 * DAY)
    assert await store.orders_of(9, within_days=30) == []


async def test_order_timestamps_match_their_status(engine: AsyncEngine, clock: FrozenClock, reader: Reader):
    await _seeded(engine, clock, reader)

    for order in await _rows(engine, orders):
        shipped = order["status"] in ("shipped", "delivered", "refunded")
        delivered = order["status"] in ("delivered", "refunded")
        assert SEED_EPOCH - 365 * DAY <= order["placed_at"] <= SEED_EPOCH
        assert (order["shipped_at"] is not None) == shipped == (order["tracking_number"] is not None)
        assert (order["delivered_at"] is not None) == delivered
        assert order["currency"] == "GBP"
        assert 1 <= order["item_count"] <= 5


async def test_customers_have_realistic_fake_uk_personal_data(engine: AsyncEngine, clock: FrozenClock, reader: Reader):
    await _seeded(engine, clock, reader)
    rows = await _rows(engine, customers)

    for customer in rows:
        assert _PHONE.fullmatch(customer["phone"]), customer["phone"]
        assert _NI.fullmatch(customer["ni_number"]), customer["ni_number"]
        assert customer["ni_number"][:2] not in {"BG", "GB", "NK", "KN", "TN", "NT", "ZZ"}
        assert _EMAIL.fullmatch(customer["email"]), customer["email"]
        assert _POSTCODE.search(customer["address"]), customer["address"]
        assert customer["created_at"] < SEED_EPOCH - 365 * DAY
    assert len({c["email"] for c in rows}) == len(rows)


async def test_demo_users_are_created_once_with_their_documented_passwords(engine: AsyncEngine, clock: FrozenClock):
    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    directory = UserDirectory(SqlUserRepository(engine), clock, hasher=cheap)

    created = await ensure_demo_users(directory)
    again = await ensure_demo_users(directory)

    assert created == [
        ("alice", "alice-demo-password", ("support",)),
        ("bob", "bob-demo-password", ("support", "refunds")),
        ("thomas", "thomas-demo-password", ("customer",)),
    ]
    assert created == list(DEMO_USERS)
    assert again == []
    bob = await directory.authenticate("bob", "bob-demo-password")
    assert bob is not None
    assert bob.roles == ("support", "refunds")
