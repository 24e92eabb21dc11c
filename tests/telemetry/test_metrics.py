"""Metrics at /metrics (Prometheus text): calls by tool, client and outcome, policy denials, tokens issued; and the
client label cap that keeps self-registered clients from growing the series without bound."""

from __future__ import annotations

import re
from collections.abc import Callable

from drawbridge.telemetry import metrics as telemetry_metrics
from tests.auth_server.oauth_flow import Flow, add_user
from tests.conftest import LiveServer
from tests.resource_server.helpers import REFUNDER, VERIFIED_CLIENT, mcp_client, mint


def _value(text: str, name: str, **labels: str) -> float:
    """The sample of ``name`` whose labels include ``labels`` (0 when absent)."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{"):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def _scrape(server: LiveServer) -> str:
    async with server.client() as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


async def test_metrics_count_calls_denials_and_tokens_by_tool_and_client(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(mcp={"toolset": "drawbridge.demo:toolset"}, telemetry={"metrics": True})
    before = await _scrape(server)
    token = mint(server, scopes=("orders:read", "orders:refund"), **REFUNDER)

    async with mcp_client(server, token) as client:
        await client.call_tool("check_order_status", {"order_id": 2})
        await client.call_tool("check_order_status", {"order_id": 3})
        await client.call_tool("request_refund", {"order_id": 6, "reason": "damaged"})  # denied: over £250

    after = await _scrape(server)
    calls = "drawbridge_mcp_requests_total"
    client = telemetry_metrics.client_label(VERIFIED_CLIENT)  # "other" once the suite has labelled 100 clients
    ok = {"target": "check_order_status", "client": client, "outcome": "ok"}
    denied = {"target": "request_refund", "client": client, "outcome": "denied"}
    assert _value(after, calls, **ok) - _value(before, calls, **ok) == 2
    assert _value(after, calls, **denied) - _value(before, calls, **denied) == 1
    denials = "drawbridge_policy_denials_total"
    assert _value(after, denials, tool="request_refund") - _value(before, denials, tool="request_refund") == 1
    latency = "drawbridge_mcp_duration_seconds_count"
    assert (
        _value(after, latency, target="check_order_status") - _value(before, latency, target="check_order_status") == 2
    )


async def test_metrics_endpoint_is_absent_unless_switched_on(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory()
    async with server.client() as http:
        response = await http.get("/metrics")
    assert response.status_code == 404


async def test_tokens_issued_are_counted_by_grant_type(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(telemetry={"metrics": True})
    await add_user(server.settings, server.clock, "dora", ("support",))
    before = await _scrape(server)
    async with server.client() as http:
        flow = Flow(http, resource=server.settings.resource_url)
        await flow.register()
        await flow.sign_in("dora", scope="orders:read")
    after = await _scrape(server)

    issued = "drawbridge_tokens_issued_total"
    code = {"grant_type": "authorization_code"}
    assert _value(after, issued, **code) - _value(before, issued, **code) == 1


def test_client_labels_are_capped() -> None:
    """Anyone can register clients: past the cap, new client ids share one label."""
    for i in range(telemetry_metrics.MAX_CLIENT_LABELS + 5):
        telemetry_metrics.client_label(f"cap-test-{i}")

    assert telemetry_metrics.client_label("one-more-client") == "other"
    assert telemetry_metrics.client_label("cap-test-0") in {"cap-test-0", "other"}  # earlier tests may hold slots
    assert len(telemetry_metrics._clients) == telemetry_metrics.MAX_CLIENT_LABELS


async def test_metrics_carry_no_user_ids(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(mcp={"toolset": "drawbridge.demo:toolset"}, telemetry={"metrics": True})
    token = mint(server, subject="user-secret-id-77", **REFUNDER)
    async with mcp_client(server, token) as client:
        await client.call_tool("check_order_status", {"order_id": 2})
    assert "user-secret-id-77" not in await _scrape(server)
