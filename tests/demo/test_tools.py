"""The demo tools, called the way the guard calls them: strictly validated arguments, then the handler."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.demo import DEMO_USERS, INSTRUCTIONS, DemoStore, build_toolset
from drawbridge.demo import toolset as demo_toolset
from drawbridge.demo.seed import DAY, SEED_EPOCH
from drawbridge.demo.store import orders, refunds
from drawbridge.storage.database import Reader
from drawbridge.testing import FrozenClock
from drawbridge.tools import Caller, ToolCall, ToolFailure, ToolInputError, Toolset, ToolsetContext

CALLER = Caller(subject="u1", client_id="c1", scopes=frozenset({"orders:read", "orders:refund"}))
PII_KEYS = {"name", "email", "phone", "ni_number", "address", "customer_id"}


@pytest.fixture
async def store(engine: AsyncEngine, clock: FrozenClock, reader: Reader) -> DemoStore:
    clock.current = SEED_EPOCH + 12 * 3600  # noon on the seed's "today", 2026-11-25
    store = DemoStore(engine, clock, reader)
    await store.ensure_schema()
    return store


@pytest.fixture
def toolset(store: DemoStore) -> Toolset:
    return build_toolset(store)


async def _call(toolset: Toolset, name: str, **arguments: Any) -> dict[str, Any]:
    tool = toolset.find(name)
    assert tool is not None
    args = tool.input_model.model_validate(arguments, strict=True)
    result: BaseModel = await tool.handler(ToolCall(caller=CALLER, tool=name), args)
    assert isinstance(result, tool.output_model)
    return result.model_dump(mode="json")


async def _refund_count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(refunds))).scalar_one()


def test_toolset_has_exactly_the_three_tools_and_the_order_resource(toolset: Toolset):
    assert [t.name for t in toolset.tools] == ["check_order_status", "summarise_customer_orders", "request_refund"]
    assert [r.uri_template for r in toolset.resources] == ["orders://{order_id}"]
    assert toolset.scopes() == {"orders:read", "orders:refund"}
    assert toolset.instructions == INSTRUCTIONS


async def test_default_factory_seeds_on_start_and_offers_the_demo_users(
    engine: AsyncEngine, clock: FrozenClock, reader: Reader
):
    built = demo_toolset(ToolsetContext(engine=engine, reader=reader, clock=clock, dev=False))
    assert built.on_start is not None

    await built.on_start()

    assert (await _call(built, "check_order_status", order_id=80))["status"] == "placed"
    assert [(u.username, u.password, u.roles) for u in built.dev_users] == list(DEMO_USERS)


@pytest.mark.parametrize(
    ("name", "scopes", "read_only", "destructive"),
    [
        ("check_order_status", {"orders:read"}, True, False),
        ("summarise_customer_orders", {"orders:read"}, True, False),
        ("request_refund", {"orders:refund"}, False, True),
    ],
)
def test_tools_declare_scopes_and_annotations(
    toolset: Toolset, name: str, scopes: set[str], read_only: bool, destructive: bool
):
    tool = toolset.find(name)
    assert tool is not None
    assert tool.scopes == scopes
    assert tool.annotations.read_only_hint is read_only
    assert tool.annotations.destructive_hint is destructive
    assert tool.annotations.idempotent_hint is True
    assert tool.annotations.open_world_hint is False


def test_each_description_says_when_to_use_another_tool(toolset: Toolset):
    names = {t.name for t in toolset.tools}
    for tool in toolset.tools:
        assert tool.description.count(". ") >= 2, tool.name
        assert any(other in tool.description for other in names - {tool.name}), tool.name
        for field in tool.input_model.model_fields.values():
            assert field.description


async def test_check_order_status_reports_a_delivered_order(toolset: Toolset):
    assert await _call(toolset, "check_order_status", order_id=2) == {
        "order_id": 2,
        "status": "delivered",
        "placed_at": "2025-12-01",
        "shipped_at": "2025-12-03",
        "delivered_at": "2025-12-05",
        "item_count": 2,
        "total": "£84.98",
        "tracking_number": "JD397796570GB",
    }


async def test_check_order_status_reports_a_shipped_order_not_yet_delivered(toolset: Toolset):
    result = await _call(toolset, "check_order_status", order_id=76)

    assert (result["status"], result["shipped_at"], result["delivered_at"]) == ("shipped", "2026-11-22", None)
    assert result["tracking_number"] == "JD250980597GB"


async def test_check_order_status_returns_no_customer_data(toolset: Toolset):
    tool = toolset.find("check_order_status")
    assert tool is not None

    result = await _call(toolset, "check_order_status", order_id=1)

    assert not PII_KEYS & set(result)
    assert not PII_KEYS & set(tool.output_schema()["properties"])


@pytest.mark.parametrize(
    ("name", "arguments"),
    [("check_order_status", {}), ("request_refund", {"reason": "changed_mind"})],
)
async def test_unknown_order_fails_and_says_so(
    toolset: Toolset, engine: AsyncEngine, name: str, arguments: dict[str, Any]
):
    with pytest.raises(ToolFailure) as failure:
        await _call(toolset, name, order_id=999, **arguments)

    assert str(failure.value) == "order 999 not found"
    assert await _refund_count(engine) == 0


async def test_summarise_customer_orders_over_all_time(toolset: Toolset):
    assert await _call(toolset, "summarise_customer_orders", customer_id=9, period="all_time") == {
        "customer_id": 9,
        "name": "Amelia O'Neill",
        "email": "amelia.oneill9@example.com",
        "period": "all_time",
        "since": None,
        "order_count": 8,
        "total_spent": "£1,502.82",
        "orders_by_status": {"placed": 0, "paid": 0, "shipped": 0, "delivered": 8, "cancelled": 0, "refunded": 0},
        "most_recent_order_id": 75,
        "most_recent_order_date": "2026-11-19",
        "last_message": None,  # customer 9 never wrote to support
    }


async def test_summary_carries_the_latest_message_in_the_period_verbatim(toolset: Toolset):
    """Masking is the guard's job (tests/resource_server/test_policy.py): the tool returns the text as written."""
    recent = await _call(toolset, "summarise_customer_orders", customer_id=1, period="last_90_days")
    month = await _call(toolset, "summarise_customer_orders", customer_id=1, period="last_30_days")

    assert recent["last_message"] == (
        "Hi, I moved house. My National Insurance number is XK 98 76 44 A if you need to check it's me."
    )
    assert month["last_message"] is None  # the message is 39 days old


@pytest.mark.parametrize(
    ("tool", "order_id", "expected"),
    [
        ("check_order_status", 27, {"order_total_pence": 4897, "order_customer_id": 3, "order_owner": "thomas"}),
        ("request_refund", 6, {"order_total_pence": 30795, "order_customer_id": 9}),  # customer 9 has no login
        ("request_refund", 999, None),  # no such order: nothing to describe
    ],
)
async def test_order_tools_describe_their_order_to_the_policy(
    toolset: Toolset, tool: str, order_id: int, expected: dict[str, Any] | None
):
    found = toolset.find(tool)
    assert found is not None
    assert found.target is not None

    assert await found.target.load({"order_id": order_id}) == expected


async def test_the_tool_acts_on_the_order_the_policy_was_shown_once(toolset: Toolset, engine: AsyncEngine):
    found = toolset.find("check_order_status")
    assert found is not None
    assert found.target is not None
    await found.target.load({"order_id": 2})  # what the guard does first: the policy sees order 2, delivered
    async with engine.begin() as conn:  # the row changes between the decision and the tool
        await conn.execute(update(orders).where(orders.c.id == 2).values(status="refunded"))

    judged = await _call(toolset, "check_order_status", order_id=2)
    again = await _call(toolset, "check_order_status", order_id=2)

    assert judged["status"] == "delivered"  # the row the decision was made on, not a second read
    assert again["status"] == "refunded"  # used once: a later call reads the database


async def test_an_order_shown_to_the_policy_is_never_used_for_another_order(toolset: Toolset):
    found = toolset.find("request_refund")
    assert found is not None
    assert found.target is not None
    await found.target.load({"order_id": 6})

    result = await _call(toolset, "check_order_status", order_id=2)

    assert result["order_id"] == 2
    assert result["total"] == "£84.98"  # order 2's own total, not order 6's £307.95


async def test_a_loader_that_finds_nothing_forgets_the_order_an_earlier_load_left(
    toolset: Toolset, engine: AsyncEngine
):
    found = toolset.find("check_order_status")
    assert found is not None
    assert found.target is not None
    await found.target.load({"order_id": 2})
    assert await found.target.load({"order_id": 999}) is None  # e.g. a denied call's loader, in the same context
    async with engine.begin() as conn:
        await conn.execute(update(orders).where(orders.c.id == 2).values(status="refunded"))

    result = await _call(toolset, "check_order_status", order_id=2)

    assert result["status"] == "refunded"  # read from the database, not the row loaded two loads ago


async def test_request_refund_decides_on_the_latest_row_not_the_policys_snapshot(toolset: Toolset, engine: AsyncEngine):
    found = toolset.find("request_refund")
    assert found is not None
    assert found.target is not None
    await found.target.load({"order_id": 2})  # delivered when the policy looked
    async with engine.begin() as conn:  # cancelled before the tool runs
        await conn.execute(update(orders).where(orders.c.id == 2).values(status="cancelled"))

    with pytest.raises(ToolFailure, match="cancelled"):
        await _call(toolset, "request_refund", order_id=2, reason="damaged")
    assert await _refund_count(engine) == 0


async def test_order_resource_describes_its_order_without_the_tool_prefix(toolset: Toolset):
    target = toolset.resources[0].target
    assert target is not None

    assert await target.load({"order_id": "39"}) == {"total_pence": 2498, "customer_id": 3, "owner": "thomas"}
    assert await target.load({"order_id": "not-a-number"}) is None


async def test_summarise_counts_spending_only_for_orders_the_shop_kept_the_money_for(toolset: Toolset):
    result = await _call(toolset, "summarise_customer_orders", customer_id=24, period="all_time")

    assert result["order_count"] == 11
    assert result["orders_by_status"]["refunded"] == 3
    assert result["total_spent"] == "£1,251.82"


async def test_summarise_periods_count_back_from_the_clock(toolset: Toolset, clock: FrozenClock):
    recent = await _call(toolset, "summarise_customer_orders", customer_id=9, period="last_30_days")
    clock.advance(365 * DAY)
    a_year_later = await _call(toolset, "summarise_customer_orders", customer_id=9, period="last_30_days")

    assert (recent["order_count"], recent["since"], recent["total_spent"]) == (3, "2026-10-26", "£195.95")
    assert (a_year_later["order_count"], a_year_later["since"]) == (0, "2027-10-26")
    assert (a_year_later["most_recent_order_id"], a_year_later["total_spent"]) == (None, "£0.00")


async def test_summarise_a_customer_without_orders(toolset: Toolset):
    result = await _call(toolset, "summarise_customer_orders", customer_id=10, period="last_365_days")

    assert (result["order_count"], result["total_spent"], result["most_recent_order_date"]) == (0, "£0.00", None)


async def test_summarise_unknown_customer_fails(toolset: Toolset):
    with pytest.raises(ToolFailure) as failure:
        await _call(toolset, "summarise_customer_orders", customer_id=999, period="all_time")

    assert str(failure.value) == "customer 999 not found"


async def test_request_refund_records_who_asked_through_which_client(
    toolset: Toolset, engine: AsyncEngine, clock: FrozenClock
):
    result = await _call(toolset, "request_refund", order_id=2, reason="damaged")

    assert result == {
        "refund_id": result["refund_id"],
        "order_id": 2,
        "status": "requested",
        "reason": "damaged",
        "amount": "£84.98",
        "requested_at": "2026-11-25",
    }
    async with engine.connect() as conn:
        row = (await conn.execute(select(refunds))).one()._mapping
    assert (row["id"], row["requested_by"], row["client_id"]) == (result["refund_id"], "u1", "c1")
    assert (row["amount_pence"], row["status"], row["created_at"]) == (8498, "requested", clock.now())


async def test_second_refund_request_returns_the_first_and_writes_nothing(toolset: Toolset, engine: AsyncEngine):
    first = await _call(toolset, "request_refund", order_id=2, reason="damaged")
    second = await _call(toolset, "request_refund", order_id=2, reason="changed_mind")

    assert second == first
    assert await _refund_count(engine) == 1


async def test_concurrent_refund_requests_for_one_order_make_one_refund(toolset: Toolset, engine: AsyncEngine):
    results = await asyncio.gather(*(_call(toolset, "request_refund", order_id=2, reason="damaged") for _ in range(3)))

    assert len({r["refund_id"] for r in results}) == 1
    assert await _refund_count(engine) == 1


@pytest.mark.parametrize(
    ("order_id", "reason"),
    [
        (1, "damaged"),  # already refunded
        (9, "changed_mind"),  # cancelled
        (80, "changed_mind"),  # placed, not paid
        (79, "not_received"),  # paid, not shipped yet
        (76, "damaged"),  # shipped, not delivered yet
        (76, "wrong_item"),
        (10, "damaged"),  # £1,099.98: over the £500 limit, needs a human
    ],
)
async def test_refund_refusals_write_nothing(toolset: Toolset, engine: AsyncEngine, order_id: int, reason: str):
    with pytest.raises(ToolFailure):
        await _call(toolset, "request_refund", order_id=order_id, reason=reason)

    assert await _refund_count(engine) == 0


@pytest.mark.parametrize(("order_id", "reason"), [(79, "changed_mind"), (76, "not_received"), (2, "wrong_item")])
async def test_refunds_the_rules_allow(toolset: Toolset, order_id: int, reason: str):
    result = await _call(toolset, "request_refund", order_id=order_id, reason=reason)

    assert (result["order_id"], result["reason"], result["status"]) == (order_id, reason, "requested")


async def test_refund_limit_is_configurable(store: DemoStore, engine: AsyncEngine):
    strict = build_toolset(store, refund_limit_pence=5_000)
    generous = build_toolset(store, refund_limit_pence=200_000)

    with pytest.raises(ToolFailure):
        await _call(strict, "request_refund", order_id=2, reason="damaged")  # £84.98
    assert await _refund_count(engine) == 0
    assert (await _call(generous, "request_refund", order_id=10, reason="damaged"))["amount"] == "£1,099.98"


@pytest.mark.parametrize(
    ("name", "arguments"),
    [
        ("check_order_status", {"order_id": 1, "customer_id": 1}),  # extra field
        ("check_order_status", {"order_id": 0}),
        ("check_order_status", {"order_id": 10_000_001}),
        ("check_order_status", {"order_id": "1"}),  # strict: no coercion
        ("check_order_status", {}),
        ("summarise_customer_orders", {"customer_id": 1, "period": "last_7_days"}),
        ("summarise_customer_orders", {"customer_id": -1, "period": "all_time"}),
        ("request_refund", {"order_id": 2, "reason": "fraud"}),
        ("request_refund", {"order_id": 2, "reason": "damaged", "amount_pence": 1}),
        ("request_refund", {"order_id": 2.0, "reason": "damaged"}),
    ],
)
def test_input_models_reject_what_the_schema_does_not_allow(toolset: Toolset, name: str, arguments: dict[str, Any]):
    tool = toolset.find(name)
    assert tool is not None

    with pytest.raises(ValidationError):
        tool.input_model.model_validate(arguments, strict=True)


async def test_order_resource_reads_like_check_order_status(toolset: Toolset):
    (template,) = toolset.resources
    params = template.match("orders://1")
    assert params == {"order_id": "1"}

    result = await template.reader(ToolCall(caller=CALLER, tool=template.name), params)

    assert result.model_dump(mode="json") == await _call(toolset, "check_order_status", order_id=1)
    assert template.scopes == {"orders:read"}


async def test_order_resource_for_an_unknown_order_fails(toolset: Toolset):
    (template,) = toolset.resources

    with pytest.raises(ToolFailure):
        await template.reader(ToolCall(caller=CALLER, tool=template.name), {"order_id": "999"})
    with pytest.raises(ToolInputError):
        await template.reader(ToolCall(caller=CALLER, tool=template.name), {"order_id": "abc"})
