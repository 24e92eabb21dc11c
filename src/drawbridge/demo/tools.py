"""The demo's order-support tools: what a well-designed MCP server looks like.

Five rules, each visible below:

1. Coarse, outcome-oriented tools: "what is the status of order 42", "summarise this customer", "refund this
   order", never ``run_sql`` or ``update_order(field, value)``.
2. Inputs constrained at the schema level: bounded ids and closed ``Literal`` choices, closed models.
3. Complete descriptions: what the tool does, when to use it (and when another), what it returns, its limits.
4. Return only what the agent needs: order status carries no customer data at all.
5. Minimal blast radius: the one writing tool only *requests* a refund, once per order, below a limit, and
   records who asked through which client; anything bigger goes to a human.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from drawbridge.demo.store import DAY, ORDER_STATUSES, DemoStore, Order, OrderStatus, Refund, RefundReason
from drawbridge.demo.users import DEMO_USERS
from drawbridge.errors import DrawbridgeError
from drawbridge.tools import (
    AttributeType,
    AttributeValue,
    DevUser,
    ResourceTemplate,
    Target,
    Tool,
    ToolCall,
    ToolFailure,
    ToolInputError,
    Toolset,
    resource,
    tool,
)

MAX_ID = 10_000_000
POLICIES = Path(__file__).parent / "policies"  # the demo's access policies (Cedar), unless [policy] directory
Period = Literal["last_30_days", "last_90_days", "last_365_days", "all_time"]
_PERIOD_DAYS: dict[Period, int | None] = {
    "last_30_days": 30,
    "last_90_days": 90,
    "last_365_days": 365,
    "all_time": None,
}
# The order the access policy was shown for this call (set by the target loader, in the call's own context): the
# read-only tools answer from that very row instead of reading it again, so the answer is the data the policy
# decided on and the policy's attributes cost no extra read. Every load replaces it (None when nothing was found),
# a tool takes it at most once and only for the same order id, and request_refund reads the latest row instead.
_JUDGED: ContextVar[Order | None] = ContextVar("drawbridge_demo_judged_order", default=None)
# Orders whose money the shop keeps: what "total spent" adds up.
_SPENT_STATUSES = frozenset({"paid", "shipped", "delivered"})

INSTRUCTIONS = """\
Order support for a small UK online shop. Use check_order_status (or the orders://{order_id} resource) to answer \
"where is my order"; it returns no customer details. Use summarise_customer_orders only when you need the \
customer's order history, and prefer the shortest period that answers the question. request_refund files a \
full-order refund request for a support agent to pay out: it never moves money itself, allows one request per \
order, and refuses large amounts, unpaid or cancelled orders, and reasons that do not fit the order's status; \
when it refuses, tell the user why and offer to hand over to a human. Amounts are in pounds sterling."""


class OrderQuery(BaseModel):
    """Which order to look at."""

    model_config = ConfigDict(extra="forbid")

    order_id: int = Field(
        ge=1, le=MAX_ID, description="The order number the customer quotes, e.g. 42 for order #42 (1 to 10,000,000)."
    )


class OrderStatusResult(BaseModel):
    """Where an order is, and nothing about who placed it."""

    order_id: int = Field(description="The order number.")
    status: OrderStatus = Field(
        description="placed (not paid yet), paid (waiting to ship), shipped, delivered, cancelled or refunded."
    )
    placed_at: date = Field(description="The day the order was placed (UTC).")
    shipped_at: date | None = Field(description="The day it left the warehouse, or null if it has not.")
    delivered_at: date | None = Field(description="The day the carrier delivered it, or null if it has not.")
    item_count: int = Field(description="How many items the order contains.")
    total: str = Field(description='The order total in pounds sterling, e.g. "£12.34".')
    tracking_number: str | None = Field(description="The carrier's tracking number once shipped, else null.")


class CustomerQuery(BaseModel):
    """Whose orders to summarise, over which period."""

    model_config = ConfigDict(extra="forbid")

    customer_id: int = Field(ge=1, le=MAX_ID, description="The customer's account number (1 to 10,000,000).")
    period: Period = Field(
        description="Which orders to count, by the day they were placed: the last 30, 90 or 365 days, or all time."
    )


class StatusCounts(BaseModel):
    """How many of the period's orders are in each status."""

    placed: int = Field(description="Orders placed but not paid yet.")
    paid: int = Field(description="Orders paid and waiting to ship.")
    shipped: int = Field(description="Orders on their way.")
    delivered: int = Field(description="Orders delivered.")
    cancelled: int = Field(description="Orders cancelled before shipping.")
    refunded: int = Field(description="Orders refunded.")


class CustomerSummary(BaseModel):
    """A customer's order history over a period, in aggregate."""

    customer_id: int = Field(description="The customer's account number.")
    name: str = Field(description="The customer's full name.")
    email: str = Field(description="The customer's email address.")
    period: Period = Field(description="The period summarised.")
    since: date | None = Field(description="The first day of the period (UTC), or null for all time.")
    order_count: int = Field(description="Orders placed in the period, in any status.")
    total_spent: str = Field(
        description='Sum of the paid, shipped and delivered orders in the period, e.g. "£120.50" (cancelled, '
        "refunded and unpaid orders do not count)."
    )
    orders_by_status: StatusCounts = Field(description="The period's orders counted by status.")
    most_recent_order_id: int | None = Field(description="The newest order in the period, or null if none.")
    most_recent_order_date: date | None = Field(description="The day that order was placed, or null if none.")
    last_message: str | None = Field(
        description="The customer's latest message to support in the period, verbatim except that personal data "
        "in it is masked, or null if none."
    )


class RefundRequest(BaseModel):
    """Which order to refund, and why."""

    model_config = ConfigDict(extra="forbid")

    order_id: int = Field(ge=1, le=MAX_ID, description="The order number to refund in full (1 to 10,000,000).")
    reason: RefundReason = Field(
        description="Why: damaged (arrived broken), not_received (shipped but never arrived), wrong_item (a "
        "different item arrived) or changed_mind (the customer no longer wants it)."
    )


class RefundResult(BaseModel):
    """The refund request on file for an order."""

    refund_id: int = Field(description="The refund request's number, for the customer's reference.")
    order_id: int = Field(description="The order it refunds.")
    status: Literal["requested"] = Field(description="Always requested: a support agent reviews and pays it out.")
    reason: RefundReason = Field(description="The reason recorded with the request.")
    amount: str = Field(description='The amount to be refunded in pounds sterling, e.g. "£12.34".')
    requested_at: date = Field(description="The day the refund was requested (UTC).")


def build_toolset(
    store: DemoStore,
    *,
    refund_limit_pence: int = 50_000,
    payments_api: str | None = None,
    routes: tuple[BaseRoute, ...] = (),
) -> Toolset:
    """The demo's tools and ``orders://`` resource over ``store``.

    The toolset's ``on_start`` creates and seeds the demo tables; its ``dev_users`` are alice and bob, which
    Drawbridge creates only under ``--dev``.

    Args:
        store: where customers, orders and refunds live.
        refund_limit_pence: refunds of orders above this total are refused as needing a human.
        payments_api: the registered downstream API (``[[exchange.apis]]`` name) that opens a refund case for each
            new request, called with an exchanged token; None files requests locally only.
        routes: companion HTTP routes to serve (the demo payments API).

    Raises:
        ToolDefinitionError: a definition breaks the design rules (a bug here, caught at start-up).
    """
    return Toolset(
        tools=(
            _check_order_status(store),
            _summarise_customer_orders(store),
            _request_refund(store, refund_limit_pence, payments_api),
        ),
        routes=routes,
        resources=(_order_resource(store),),
        instructions=INSTRUCTIONS,
        dev_users=tuple(DevUser(username, password, roles) for username, password, roles in DEMO_USERS),
        policy_directory=POLICIES,
        on_start=store.ensure_schema,
        scope_descriptions={
            "orders:read": "look up orders and summarise customers' order history",
            "orders:refund": "request refunds on orders for you",
        },
    )


def _check_order_status(store: DemoStore) -> Tool[OrderQuery, OrderStatusResult]:
    @tool(
        name="check_order_status",
        title="Check order status",
        description=(
            "Look up where one order is: its status, the days it was placed, shipped and delivered, its item "
            "count, total and tracking number. Use it for 'where is my order' questions and before requesting "
            "a refund; use summarise_customer_orders instead for a customer's whole history. Returns no "
            "customer details (name, email, address). Fails with 'order N not found' for an unknown number."
        ),
        scopes=("orders:read",),
        read_only=True,
        destructive=False,
        idempotent=True,
        open_world=False,
        target=_order_target(store),
    )
    async def check_order_status(call: ToolCall, args: OrderQuery) -> OrderStatusResult:
        return await order_status(store, args.order_id)

    return check_order_status


def _summarise_customer_orders(store: DemoStore) -> Tool[CustomerQuery, CustomerSummary]:
    @tool(
        name="summarise_customer_orders",
        title="Summarise a customer's orders",
        description=(
            "Summarise one customer's orders placed in a period: how many, the total spent, counts by status, "
            "and the most recent order. Use it when the question is about the customer's history (how often "
            "they order, how much they spent, whether they had problems before); for a single order use "
            "check_order_status. Returns the customer's name and email, their latest message to support, and "
            "aggregates only, never individual orders or addresses; personal data the caller may not see is "
            "masked. Ask for the shortest period that answers the question. Fails with 'customer N not found' "
            "for an unknown account number."
        ),
        scopes=("orders:read",),
        read_only=True,
        destructive=False,
        idempotent=True,
        open_world=False,
    )
    async def summarise_customer_orders(call: ToolCall, args: CustomerQuery) -> CustomerSummary:
        customer = await store.get_customer(args.customer_id)
        if customer is None:
            raise ToolFailure(f"customer {args.customer_id} not found")
        found = await store.orders_of(args.customer_id, within_days=_PERIOD_DAYS[args.period])
        message = await store.latest_message(args.customer_id, within_days=_PERIOD_DAYS[args.period])
        counts = Counter(o.status for o in found)
        newest = found[0] if found else None
        return CustomerSummary(
            customer_id=customer.id,
            name=customer.name,
            email=customer.email,
            period=args.period,
            since=_since(store, args.period),
            order_count=len(found),
            total_spent=_pounds(sum(o.total_pence for o in found if o.status in _SPENT_STATUSES)),
            orders_by_status=StatusCounts.model_validate({s: counts[s] for s in ORDER_STATUSES}),
            most_recent_order_id=newest.id if newest else None,
            most_recent_order_date=_day(newest.placed_at) if newest else None,
            last_message=message.text if message else None,
        )

    return summarise_customer_orders


def _request_refund(store: DemoStore, limit_pence: int, payments_api: str | None) -> Tool[RefundRequest, RefundResult]:
    @tool(
        name="request_refund",
        title="Request a refund",
        description=(
            "File a request to refund an order in full; a support agent reviews and pays it, this tool moves "
            "no money. Use it only when the customer asks for a refund, after check_order_status. Rules: one "
            "request per order (asking again returns the existing request unchanged); the order must be paid "
            "and not cancelled or refunded; not_received needs a shipped order, damaged and wrong_item a "
            f"delivered one; orders over {_pounds(limit_pence)} are refused as needing a human. Returns the "
            "refund request: its number, amount, reason and date. A refusal says why and writes nothing."
        ),
        scopes=("orders:refund",),
        read_only=False,
        destructive=True,
        idempotent=True,
        open_world=False,
        target=_order_target(store),
    )
    async def request_refund(call: ToolCall, args: RefundRequest) -> RefundResult:
        order = await _order(store, args.order_id, fresh=True)  # money: decide on the latest row, not a snapshot
        existing = await store.refund_for(order.id)
        if existing is not None:
            return _refund_result(existing)
        refusal = _refusal(order, args.reason, limit_pence)
        if refusal:
            raise ToolFailure(refusal)
        if payments_api is not None:
            await _open_payment_case(call, payments_api, order)
        refund = await store.add_refund(
            order_id=order.id,
            reason=args.reason,
            amount_pence=order.total_pence,
            requested_by=call.caller.subject,
            client_id=call.caller.client_id,
        )
        return _refund_result(refund)

    return request_refund


async def _open_payment_case(call: ToolCall, api: str, order: Order) -> None:
    """Tell the payments service, as the user, with a token exchanged for it: never the user's own token."""
    if call.downstream is None:
        raise ToolFailure("refunds need the payments service, reachable only for a signed-in user over HTTP")
    try:
        response = await call.downstream.request(
            api, "POST", "/refunds", json={"order_id": order.id, "amount_pence": order.total_pence}
        )
    except DrawbridgeError as exc:
        raise ToolFailure("the payments service could not be reached; nothing was filed") from exc
    if response.status != 201:
        raise ToolFailure(f"the payments service refused the refund (HTTP {response.status}); nothing was filed")


def _order_resource(store: DemoStore) -> ResourceTemplate:
    @resource(
        uri_template="orders://{order_id}",
        name="order",
        title="Order",
        description=(
            "One order's status, as check_order_status returns it: status, the days it was placed, shipped "
            "and delivered, item count, total and tracking number, with no customer details. Read "
            "orders://42 for order 42; an unknown number is an error."
        ),
        scopes=("orders:read",),
        target=_order_target(store, prefix=""),
    )
    async def read_order(call: ToolCall, params: Mapping[str, str]) -> OrderStatusResult:
        raw = params["order_id"]
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
            raise ToolInputError(f"order id must be a number from 1 to {MAX_ID}")
        return await order_status(store, int(raw))

    return read_order


def _order_target(store: DemoStore, *, prefix: str = "order_") -> Target:
    """The order a call names, for the access policy: its total (the refund limit), customer and owner (who may
    read it). Tools see ``context.order_total_pence``; the ``orders://`` resource ``resource.total_pence``."""
    types: dict[str, AttributeType] = {
        f"{prefix}total_pence": "Long",
        f"{prefix}customer_id": "Long",
        f"{prefix}owner": "String",
    }

    async def load(values: Mapping[str, Any]) -> dict[str, AttributeValue] | None:
        _JUDGED.set(None)  # whatever an earlier load in this context left is not this call's
        raw = str(values.get("order_id", ""))
        found = await store.order_with_owner(int(raw)) if raw.isdigit() and 1 <= int(raw) <= MAX_ID else None
        if found is None:
            return None  # nothing to describe: policies that need these attributes deny
        order, owner = found
        _JUDGED.set(order)
        facts: dict[str, AttributeValue] = {
            f"{prefix}total_pence": order.total_pence,
            f"{prefix}customer_id": order.customer_id,
        }
        if owner is not None:
            facts[f"{prefix}owner"] = owner
        return facts

    return Target(types=types, load=load)


async def _order(store: DemoStore, order_id: int, *, fresh: bool = False) -> Order:
    """The order, from the row the policy was shown for this call when there is one (unless ``fresh``)."""
    judged = _JUDGED.get()
    if judged is not None:
        _JUDGED.set(None)  # good for one use, by this call
        if judged.id == order_id and not fresh:
            return judged
    order = await store.get_order(order_id)
    if order is None:
        raise ToolFailure(f"order {order_id} not found")
    return order


async def order_status(store: DemoStore, order_id: int) -> OrderStatusResult:
    """What ``check_order_status`` answers for an order (the benchmark serves it from the other servers too)."""
    order = await _order(store, order_id)
    return OrderStatusResult(
        order_id=order.id,
        status=order.status,
        placed_at=_day(order.placed_at),
        shipped_at=None if order.shipped_at is None else _day(order.shipped_at),
        delivered_at=None if order.delivered_at is None else _day(order.delivered_at),
        item_count=order.item_count,
        total=_pounds(order.total_pence),
        tracking_number=order.tracking_number,
    )


def _refusal(order: Order, reason: RefundReason, limit_pence: int) -> str | None:
    """Why this order cannot be refunded for this reason by an agent, or None when it can."""
    if order.status in ("cancelled", "refunded"):
        return f"order {order.id} is {order.status}: there is nothing left to refund"
    if order.status == "placed":
        return f"order {order.id} has not been paid: there is nothing to refund"
    if reason == "not_received" and order.status == "paid":
        return f"order {order.id} has not shipped yet, so it cannot be reported as not received"
    if reason in ("damaged", "wrong_item") and order.status != "delivered":
        return f"order {order.id} has not been delivered yet, so it cannot be reported as {reason}"
    if order.total_pence > limit_pence:
        return (
            f"order {order.id} totals {_pounds(order.total_pence)}, above the {_pounds(limit_pence)} limit for "
            "refunds requested here: this refund needs a human, so hand the customer over to a support agent"
        )
    return None


def _refund_result(refund: Refund) -> RefundResult:
    return RefundResult(
        refund_id=refund.id,
        order_id=refund.order_id,
        status="requested",
        reason=refund.reason,
        amount=_pounds(refund.amount_pence),
        requested_at=_day(refund.created_at),
    )


def _since(store: DemoStore, period: Period) -> date | None:
    days = _PERIOD_DAYS[period]
    return None if days is None else _day(store.now() - days * DAY)


def _pounds(pence: int) -> str:
    return f"£{pence // 100:,}.{pence % 100:02d}"


def _day(timestamp: float) -> date:
    return datetime.fromtimestamp(timestamp, tz=UTC).date()
