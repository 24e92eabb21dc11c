"""The demo toolset with ``check_order_status`` answered from memory: for the benchmark's cost breakdown only.

The demo's tool reads its order from SQLite, and so does the target loader that hands the order's total and owner
to the access policy; the bare SDK and FastMCP servers answer from memory. This toolset keeps every declaration
(names, scopes, input and output models, target attribute types, policies) and replaces just those two reads with
constants, so ``drawbridge`` against ``drawbridge --variant static-tool`` separates the demo's own database work
from the security layers'. Loaded by name as ``[mcp] toolset = "static_demo:toolset"`` (bench/ is on sys.path).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date
from typing import Any

from drawbridge.demo import toolset as demo_toolset
from drawbridge.demo.tools import OrderQuery, OrderStatusResult
from drawbridge.tools import AttributeValue, Target, Tool, ToolCall, Toolset, ToolsetContext

# What the seeded demo returns for order 2 (bench/servers.py serves the same to the SDK and FastMCP).
ORDER_2 = OrderStatusResult(
    order_id=2,
    status="delivered",
    placed_at=date(2025, 12, 1),
    shipped_at=date(2025, 12, 3),
    delivered_at=date(2025, 12, 5),
    item_count=2,
    total="£84.98",
    tracking_number="JD397796570GB",
)
FACTS: dict[str, AttributeValue] = {"order_total_pence": 8498, "order_customer_id": 9}  # no sign-in account: no owner
ORDER_TOOL = "check_order_status"


def toolset(context: ToolsetContext) -> Toolset:
    """The demo toolset, its ``check_order_status`` and that tool's target loader served without the database."""
    demo = demo_toolset(context)
    return dataclasses.replace(demo, tools=tuple(_static(t) if t.name == ORDER_TOOL else t for t in demo.tools))


def _static(tool: Tool[Any, Any]) -> Tool[Any, Any]:
    async def handler(_call: ToolCall, args: OrderQuery) -> OrderStatusResult:
        return ORDER_2.model_copy(update={"order_id": args.order_id})

    async def load(_values: Mapping[str, Any]) -> Mapping[str, AttributeValue]:
        return FACTS

    types = tool.target.types if tool.target is not None else {}
    return dataclasses.replace(tool, handler=handler, target=Target(types=types, load=load))
