"""The demo shop's storage: customers, orders and refund requests, on tables of the demo's own.

The tables live on their own ``MetaData`` (names prefixed ``demo_``), outside Drawbridge's migrations: a tools
module owns its data, and :meth:`DemoStore.ensure_schema` creates and seeds it on start-up.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal, get_args

from sqlalchemy import (
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.clock import Clock
from drawbridge.demo import seed
from drawbridge.storage.database import Reader

OrderStatus = Literal["placed", "paid", "shipped", "delivered", "cancelled", "refunded"]
RefundReason = Literal["damaged", "not_received", "wrong_item", "changed_mind"]
ORDER_STATUSES: tuple[OrderStatus, ...] = get_args(OrderStatus)
REFUND_REASONS: tuple[RefundReason, ...] = get_args(RefundReason)
DAY = 86_400.0

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

customers = Table(
    "demo_customers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(128), nullable=False),
    Column("email", String(254), nullable=False, unique=True),
    Column("phone", String(32), nullable=False),
    Column("ni_number", String(16), nullable=False),  # UK National Insurance number, "AB 12 34 56 C"
    Column("address", String(512), nullable=False),
    Column("created_at", Float, nullable=False),
)

orders = Table(
    "demo_orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("demo_customers.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),
    Column("total_pence", Integer, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("placed_at", Float, nullable=False),
    Column("shipped_at", Float, nullable=True),
    Column("delivered_at", Float, nullable=True),
    Column("tracking_number", String(32), nullable=True),
)
orders.append_constraint(CheckConstraint(orders.c.status.in_(ORDER_STATUSES), name="status"))

refunds = Table(
    "demo_refunds",
    metadata,
    Column("id", Integer, primary_key=True),
    # One refund per order: the unique key is what makes request_refund idempotent, even under a race.
    Column("order_id", Integer, ForeignKey("demo_orders.id"), nullable=False, unique=True),
    Column("reason", String(32), nullable=False),
    Column("amount_pence", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(255), nullable=False),  # the user's token subject
    Column("client_id", String(255), nullable=False),  # the OAuth client that acted for them
    Column("created_at", Float, nullable=False),
)
refunds.append_constraint(CheckConstraint(refunds.c.reason.in_(REFUND_REASONS), name="reason"))


messages = Table(
    "demo_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("customer_id", Integer, ForeignKey("demo_customers.id"), nullable=False, index=True),
    Column("received_at", Float, nullable=False),
    Column("text", String(1000), nullable=False),
)

accounts = Table(  # who signs in as which customer (the customer role reads its own orders)
    "demo_accounts",
    metadata,
    Column("username", String(64), primary_key=True),
    Column("customer_id", Integer, ForeignKey("demo_customers.id"), nullable=False, unique=True),
)


# The hot reads, built once: constructing a select() costs more than running it on SQLite (about 70 µs against 45).
_ORDER = select(orders).where(orders.c.id == bindparam("id"))
_CUSTOMER = select(customers).where(customers.c.id == bindparam("id"))
_REFUND = select(refunds).where(refunds.c.order_id == bindparam("order_id"))
_ORDER_WITH_OWNER = (
    select(orders, accounts.c.username)
    .select_from(orders.outerjoin(accounts, accounts.c.customer_id == orders.c.customer_id))
    .where(orders.c.id == bindparam("id"))
)


@dataclass(frozen=True, slots=True)
class Message:
    """A customer's message to support, verbatim."""

    id: int
    customer_id: int
    received_at: float
    text: str


@dataclass(frozen=True, slots=True)
class Customer:
    """A customer, with the personal data the shop holds about them."""

    id: int
    name: str
    email: str
    phone: str
    ni_number: str
    address: str
    created_at: float


@dataclass(frozen=True, slots=True)
class Order:
    """An order; amounts in pence, times as Unix seconds."""

    id: int
    customer_id: int
    status: OrderStatus
    total_pence: int
    currency: str
    item_count: int
    placed_at: float
    shipped_at: float | None
    delivered_at: float | None
    tracking_number: str | None


@dataclass(frozen=True, slots=True)
class Refund:
    """A refund request: who asked (user and client), for which order, how much and why."""

    id: int
    order_id: int
    reason: RefundReason
    amount_pence: int
    status: str
    requested_by: str
    client_id: str
    created_at: float


class DemoStore:
    """Reads customers and orders, and records refund requests, for the demo tools.

    Args:
        engine: the database to keep the ``demo_*`` tables in (Drawbridge's own is fine); writes go through it.
        clock: time source for refund timestamps and for "the last N days".
        reader: runs the reads, on the same database (:class:`~drawbridge.storage.database.Reader`).
    """

    def __init__(self, engine: AsyncEngine, clock: Clock, reader: Reader) -> None:
        self._engine = engine
        self._clock = clock
        self._reader = reader

    def now(self) -> float:
        """The store's clock reading: the "now" that "the last N days" counts back from."""
        return self._clock.now()

    async def ensure_schema(self) -> None:
        """Create the tables if missing, and seed them if there are no customers yet.

        Safe on every start and from several processes at once: whoever loses a creation or seeding race
        sees the winner's tables and rows and carries on.
        """
        await self._create_tables()
        seed_customers, seed_orders = seed.generate()
        # Each table is seeded when empty, so a database seeded by an older demo gains the newer tables' rows.
        await self._seed(customers, [asdict(c) for c in seed_customers])
        await self._seed(orders, [asdict(o) for o in seed_orders])
        await self._seed(messages, [asdict(m) for m in seed.generate_messages(seed_customers)])
        await self._seed(accounts, [{"username": u, "customer_id": c} for u, c in seed.ACCOUNTS])

    async def get_customer(self, customer_id: int) -> Customer | None:
        """The customer with this id, if any."""
        row = await self._reader.first(_CUSTOMER, {"id": customer_id})
        return None if row is None else Customer(**row._mapping)

    async def get_order(self, order_id: int) -> Order | None:
        """The order with this id, if any."""
        row = await self._reader.first(_ORDER, {"id": order_id})
        return None if row is None else Order(**row._mapping)

    async def orders_of(self, customer_id: int, *, within_days: int | None = None) -> list[Order]:
        """A customer's orders, newest first; only those placed in the last ``within_days`` days when given."""
        query = select(orders).where(orders.c.customer_id == customer_id)
        if within_days is not None:
            query = query.where(orders.c.placed_at >= self.now() - within_days * DAY)
        rows = await self._reader.all(query.order_by(orders.c.placed_at.desc(), orders.c.id.desc()))
        return [Order(**row._mapping) for row in rows]

    async def latest_message(self, customer_id: int, *, within_days: int | None = None) -> Message | None:
        """The customer's newest message to support (in the last ``within_days`` days when given)."""
        query = select(messages).where(messages.c.customer_id == customer_id)
        if within_days is not None:
            query = query.where(messages.c.received_at >= self.now() - within_days * DAY)
        row = await self._reader.first(query.order_by(messages.c.received_at.desc()).limit(1))
        return None if row is None else Message(**row._mapping)

    async def order_with_owner(self, order_id: int) -> tuple[Order, str | None] | None:
        """The order and the username that signs in as its customer (if any), in one query."""
        row = await self._reader.first(_ORDER_WITH_OWNER, {"id": order_id})
        if row is None:
            return None
        fields = dict(row._mapping)
        owner = fields.pop("username")
        return Order(**fields), owner

    async def refund_for(self, order_id: int) -> Refund | None:
        """The refund requested for this order, if any (there is at most one)."""
        row = await self._reader.first(_REFUND, {"order_id": order_id})
        return None if row is None else Refund(**row._mapping)

    async def add_refund(
        self, *, order_id: int, reason: RefundReason, amount_pence: int, requested_by: str, client_id: str
    ) -> Refund:
        """Record a refund request for an order, or return the one it already has (one refund per order).

        Raises:
            sqlalchemy.exc.IntegrityError: the order does not exist.
        """
        values: dict[str, Any] = {
            "order_id": order_id,
            "reason": reason,
            "amount_pence": amount_pence,
            "status": "requested",
            "requested_by": requested_by,
            "client_id": client_id,
            "created_at": self._clock.now(),
        }
        try:
            async with self._engine.begin() as conn:
                refund_id = (await conn.execute(insert(refunds).values(**values).returning(refunds.c.id))).scalar_one()
        except IntegrityError:
            existing = await self.refund_for(order_id)
            if existing is None:
                raise
            return existing  # a concurrent request for the same order won the race
        return Refund(id=refund_id, **values)

    async def _create_tables(self) -> None:
        # Two processes creating one table race on the catalogue (PostgreSQL: a unique violation on pg_type;
        # SQLite: "table already exists"). The loser checks again: every lost race means one more table now
        # exists and will be skipped, so one attempt per table, plus one, always ends.
        attempts = len(metadata.tables) + 1
        for attempt in range(1, attempts + 1):
            try:
                async with self._engine.begin() as conn:
                    await conn.run_sync(metadata.create_all)
            except (IntegrityError, ProgrammingError, OperationalError):
                if attempt == attempts:
                    raise
            else:
                return

    async def _seed(self, table: Table, rows: list[dict[str, Any]]) -> None:
        if await self._count(table):
            return
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(table), rows)
        except IntegrityError:
            if not await self._count(table):
                raise  # not a seeding race: something else is wrong
            # another process seeded between our check and our insert; its rows are the same as ours

    async def _count(self, table: Table) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())
