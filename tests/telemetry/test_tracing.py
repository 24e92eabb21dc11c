"""Tracing end to end: one trace from the agent's MCP request through policy, the tool, the token exchange and the
downstream API's own server span, with no token, argument or result in any span attribute."""

from __future__ import annotations

import json
from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from drawbridge.audit import AuditQuery, AuditStore
from drawbridge.storage.database import create_engine
from drawbridge.testing import FrozenClock
from tests.conftest import LiveServer
from tests.resource_server.helpers import REFUNDER, mcp_client, mint

SECRET = "s3cret-for-tests"


def _server(live_server_factory: Callable[..., LiveServer], *, tracing: bool) -> LiveServer:
    return live_server_factory(
        mcp={"toolset": "drawbridge.demo:toolset"},
        exchange={"client_secret": SECRET},
        telemetry={"tracing": tracing},
    )


def _by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    found = [s for s in spans if s.name == name]
    assert found, f"no span named {name!r} in {sorted({s.name for s in spans})}"
    return found[-1]


async def test_one_trace_from_the_mcp_request_to_the_downstream_api(
    live_server_factory: Callable[..., LiveServer], spans: InMemorySpanExporter
) -> None:
    server = _server(live_server_factory, tracing=True)
    token = mint(server, scopes=("orders:read", "orders:refund"), subject="user-42", **REFUNDER)

    async with mcp_client(server, token) as client:
        result = await client.call_tool("request_refund", {"order_id": 2, "reason": "damaged"})
    assert not result.is_error, result

    finished = list(spans.get_finished_spans())
    server_call = next(
        s
        for s in finished
        if s.name == "tools/call request_refund"
        and s.instrumentation_scope.name == "mcp-python-sdk"
        and s.kind.name == "SERVER"
    )
    trace_id = server_call.context.trace_id
    in_trace = [s for s in finished if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    assert {"drawbridge.policy", "drawbridge.tool", "drawbridge.masking", "drawbridge.token_exchange"} <= names
    # The downstream API's own HTTP server span (ASGI instrumentation, parent from the traceparent header the
    # instrumented httpx client sent) is in the same trace, and so is the token endpoint's.
    downstream = [s for s in in_trace if s.kind.name == "SERVER" and "/demo/payments/refunds" in str(s.attributes)]
    assert downstream, sorted(names)
    token_endpoint = [s for s in in_trace if s.kind.name == "SERVER" and "/token" in str(s.attributes)]
    assert token_endpoint, sorted(names)
    # Our spans hang under the SDK's tools/call span: joined, not duplicated.
    policy = _by_name(in_trace, "drawbridge.policy")
    assert policy.parent is not None
    assert policy.parent.span_id == server_call.context.span_id
    assert policy.attributes is not None
    assert policy.attributes["drawbridge.policy.allowed"] is True
    assert list(policy.attributes["drawbridge.policy.ids"]) == ["refunds-up-to-limit"]  # type: ignore[arg-type]
    # The trace starts at the agent: the SDK client's span, whose context travelled in the request's _meta.
    agent = _by_name(in_trace, "MCP send tools/call request_refund")
    assert agent.kind.name == "CLIENT"
    assert agent.parent is None
    assert server_call.parent is not None
    assert server_call.parent.span_id == agent.context.span_id
    assert len([s for s in in_trace if s.name == "tools/call request_refund"]) == 1  # the SDK's, not a copy of ours


async def test_spans_carry_no_token_argument_or_result(
    live_server_factory: Callable[..., LiveServer], spans: InMemorySpanExporter
) -> None:
    server = _server(live_server_factory, tracing=True)
    token = mint(server, scopes=("orders:read", "orders:refund"), subject="user-42", **REFUNDER)

    async with mcp_client(server, token) as client:
        await client.call_tool("summarise_customer_orders", {"customer_id": 1, "period": "all_time"})
        await client.call_tool("request_refund", {"order_id": 2, "reason": "damaged"})

    dumped = json.dumps(
        [
            {
                "name": s.name,
                "attributes": dict(s.attributes or {}),
                "events": [dict(e.attributes or {}) for e in s.events],
            }
            for s in spans.get_finished_spans()
        ],
        default=str,
    )
    assert token not in dumped
    assert token.split(".")[2] not in dumped  # not even the signature
    assert "Bearer" not in dumped
    assert "mohammed.smith1@example.co.uk" not in dumped  # a result value
    assert "XK 98 76 44 A" not in dumped


async def test_a_denied_call_is_visible_in_the_trace_without_policy_text(
    live_server_factory: Callable[..., LiveServer], spans: InMemorySpanExporter
) -> None:
    server = _server(live_server_factory, tracing=True)
    token = mint(server, scopes=("orders:read", "orders:refund"), **REFUNDER)

    async with mcp_client(server, token) as client:
        result = await client.call_tool("request_refund", {"order_id": 6, "reason": "damaged"})  # over £250
    assert result.is_error

    finished = list(spans.get_finished_spans())
    policy = _by_name(finished, "drawbridge.policy")
    assert policy.attributes is not None
    assert policy.attributes["drawbridge.policy.allowed"] is False
    assert "drawbridge.tool" not in {s.name for s in finished if s.context.trace_id == policy.context.trace_id}


async def test_tracing_off_adds_no_drawbridge_spans(
    live_server_factory: Callable[..., LiveServer], spans: InMemorySpanExporter
) -> None:
    """Off by default: even with a provider installed in the process, the server adds no HTTP or exchange spans."""
    server = _server(live_server_factory, tracing=False)
    token = mint(server, scopes=("orders:read", "orders:refund"), **REFUNDER)

    async with mcp_client(server, token) as client:
        await client.call_tool("check_order_status", {"order_id": 2})

    names = {s.name for s in spans.get_finished_spans()}
    assert not any("/demo/payments" in n or n.startswith("POST") for n in names), names


async def test_the_audit_row_carries_the_trace_id_of_its_request(
    live_server_factory: Callable[..., LiveServer], spans: InMemorySpanExporter
) -> None:
    server = _server(live_server_factory, tracing=True)
    token = mint(server, scopes=("orders:read", "orders:refund"), **REFUNDER)

    async with mcp_client(server, token) as client:
        await client.call_tool("check_order_status", {"order_id": 2})

    server_call = next(
        s for s in spans.get_finished_spans() if s.name == "tools/call check_order_status" and s.kind.name == "SERVER"
    )
    engine = create_engine(server.settings.database_url, schema=server.settings.storage.schema_name)
    try:
        rows = await AuditStore(engine, clock=FrozenClock()).search(AuditQuery(target="check_order_status"))
    finally:
        await engine.dispose()
    assert [r.event.trace_id for r in rows] == [format(server_call.context.trace_id, "032x")]
