"""The demo: a small order-support service showing how a well-designed MCP server looks (docs/demo.md)."""

from drawbridge.demo.payments import PATH as PAYMENTS_PATH
from drawbridge.demo.payments import PaymentsApi
from drawbridge.demo.store import DemoStore
from drawbridge.demo.tools import INSTRUCTIONS, build_toolset
from drawbridge.demo.users import DEMO_USERS, ensure_demo_users
from drawbridge.tools import Toolset, ToolsetContext

__all__ = ["DEMO_USERS", "INSTRUCTIONS", "DemoStore", "build_toolset", "ensure_demo_users", "toolset"]


def toolset(context: ToolsetContext) -> Toolset:
    """The toolset factory Drawbridge serves by default (``[mcp] toolset = "drawbridge.demo:toolset"``).

    Builds without I/O; the returned toolset's ``on_start`` creates and seeds the demo tables in Drawbridge's
    database, and its demo users are created only under ``--dev``.
    """
    payments = PaymentsApi(identifier=context.base_url + PAYMENTS_PATH, issuer=context.issuer, clock=context.clock)
    return build_toolset(
        DemoStore(context.engine, context.clock, context.reader), payments_api="payments", routes=(payments.routes(),)
    )
