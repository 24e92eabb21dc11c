"""The audit trail of a real demo session over HTTP: every event the issue lists, read back from the database with
every field checked; personal data in arguments masked; an edited row found by ``drawbridge audit verify``; and the
request path failing closed when the trail cannot record."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
from mcp.shared.exceptions import MCPError
from sqlalchemy import text

from drawbridge.app import build_components
from drawbridge.audit import AuditQuery, AuditRecord, AuditStore
from drawbridge.errors import ConfigError
from drawbridge.settings import Settings
from drawbridge.storage.database import create_engine
from drawbridge.testing import FrozenClock
from tests.auth_server.oauth_flow import REDIRECT_URI, Flow, add_user
from tests.conftest import LiveServer
from tests.resource_server.helpers import REFUNDER, VERIFIED_CLIENT, mcp_client, mint
from tests.toolsets import WRITES

SECRET = "s3cret-for-tests"
DEMO = {"mcp": {"toolset": "drawbridge.demo:toolset"}, "exchange": {"client_secret": SECRET}}


async def _records(server: LiveServer) -> list[AuditRecord]:
    engine = create_engine(server.settings.database_url, schema=server.settings.storage.schema_name)
    try:
        return await AuditStore(engine, clock=FrozenClock()).search(AuditQuery(limit=None))
    finally:
        await engine.dispose()


def _one(records: list[AuditRecord], kind: str, **match: Any) -> AuditRecord:
    found = [r for r in records if r.event.kind == kind and all(getattr(r.event, k) == v for k, v in match.items())]
    assert len(found) == 1, f"{kind} {match}: {[r.as_dict() for r in found] or sorted({r.event.kind for r in records})}"
    return found[0]


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
async def session(live_server_factory: Callable[..., LiveServer]) -> AsyncIterator[dict[str, Any]]:
    """A demo session: dora signs in through a DCR client (one wrong password first) and uses the tools; bob's verified
    agent refunds one order and is denied another; then dora's refresh token is rotated, replayed and revoked."""
    server = live_server_factory(**DEMO)
    dora_id = await add_user(server.settings, server.clock, "dora", ("support",))
    seen: dict[str, Any] = {"server": server, "dora": dora_id}
    async with server.client() as http:
        flow = Flow(http, resource=server.settings.resource_url)
        await flow.register(client_name="Trail test client", grant_types=["authorization_code", "refresh_token"])
        seen["client"] = flow.client_id
        response = await flow.authorize(scope="orders:read")
        refused = await flow.login(response.headers["location"], "dora", "not-her-password")
        assert refused.status_code == 401
        tokens = await flow.sign_in("dora", scope="orders:read")

        async with mcp_client(server, tokens["access_token"], mode="legacy") as client:
            await client.list_tools()
            status = await client.call_tool("check_order_status", {"order_id": 2})
            summary = await client.call_tool("summarise_customer_orders", {"customer_id": 1, "period": "all_time"})
        seen["status_text"] = status.content[0].text  # type: ignore[union-attr]
        seen["summary_text"] = summary.content[0].text  # type: ignore[union-attr]

        bob = mint(server, scopes=("orders:read", "orders:refund"), subject="bob-id", username="bob", **REFUNDER)
        async with mcp_client(server, bob) as client:
            refund = await client.call_tool("request_refund", {"order_id": 2, "reason": "damaged"})
            denied = await client.call_tool("request_refund", {"order_id": 6, "reason": "damaged"})
        assert not refund.is_error
        assert denied.is_error

        rotated = await flow.refresh(tokens["refresh_token"])
        assert rotated.status_code == 200, rotated.text
        replayed = await flow.refresh(tokens["refresh_token"])
        assert replayed.status_code == 400
        assert (await flow.revoke(rotated.json()["access_token"])).status_code == 200
    seen["records"] = await _records(server)
    return seen


async def test_auth_events_of_the_session(session: dict[str, Any]) -> None:
    records, client, dora = session["records"], session["client"], session["dora"]
    server: LiveServer = session["server"]

    registered = _one(records, "auth.client_registered", client_id=client)
    assert registered.event.client_kind == "dcr"
    assert registered.event.detail["client_name"] == "Trail test client"
    assert registered.event.detail["redirect_hosts"] == [urlsplit(REDIRECT_URI).netloc]

    failed = _one(records, "auth.login_failed")
    assert (failed.event.username, failed.event.user_id, failed.event.client_id) == ("dora", None, client)
    assert (failed.event.outcome, failed.event.reason) == ("denied", "bad_credentials")

    login = _one(records, "auth.login_succeeded", user_id=dora)
    assert (login.event.username, login.event.client_id, login.event.client_kind) == ("dora", client, "dcr")

    consent = _one(records, "auth.consent_granted", user_id=dora)
    assert consent.event.detail["granted"] == ["orders:read"]

    issued = _one(records, "token.issued", user_id=dora)
    assert issued.event.client_id == client
    assert issued.event.detail["scope"] == "orders:read"
    assert issued.event.detail["audience"] == server.settings.resource_url
    assert issued.event.detail["refresh_token_issued"] is True
    assert len(issued.event.detail["jti"]) > 10

    refreshed = _one(records, "token.refreshed", user_id=dora)
    assert refreshed.event.detail["jti"] != issued.event.detail["jti"]
    reuse = _one(records, "token.refresh_reuse", user_id=dora)
    assert (reuse.event.outcome, reuse.event.client_id) == ("denied", client)
    revoked = _one(records, "token.revoked", client_id=client)
    assert (revoked.event.user_id, revoked.event.detail["token_type"]) == (dora, "access_token")

    exchanged = _one(records, "token.exchanged", user_id="bob-id")
    assert exchanged.event.client_id == "drawbridge-mcp"
    assert exchanged.event.detail["audience"] == f"{server.base_url}/demo/payments"
    assert exchanged.event.detail["scope"] == "orders:refund"

    # No token, secret or password anywhere in the trail.
    dumped = json.dumps([r.as_dict() for r in records], default=str)
    assert "not-her-password" not in dumped
    assert "drt_" not in dumped
    assert SECRET not in dumped


async def test_mcp_events_of_the_session_carry_every_field(session: dict[str, Any]) -> None:
    records, client, dora = session["records"], session["client"], session["dora"]

    initialize = _one(records, "mcp.initialize", user_id=dora)
    assert initialize.event.client_kind == "dcr"
    assert initialize.event.arguments["clientInfo"]["name"]  # the client's self-description
    assert initialize.event.session_id is None  # the server assigns it in this request's response

    listed = _one(records, "mcp.list", user_id=dora)
    session_id = listed.event.session_id
    assert session_id  # every request after initialize carries the 2025-11-25 session id
    assert listed.event.detail["method"] == "tools/list"
    assert listed.event.result_digest == _digest(json.dumps(["check_order_status", "summarise_customer_orders"]))

    status = _one(records, "mcp.tools_call", user_id=dora, target="check_order_status")
    event = status.event
    assert (event.username, event.client_id, event.client_kind, event.session_id) == ("dora", client, "dcr", session_id)
    assert event.arguments == {"order_id": 2}
    assert (event.decision, event.reason, event.outcome) == ("allow", "support-reads-orders", "ok")
    assert event.result_digest == _digest(session["status_text"])  # what the agent received, byte for byte
    assert event.result_size == len(session["status_text"].encode())
    assert event.latency_ms is not None
    assert event.latency_ms > 0
    assert event.trace_id is None  # tracing is off in this server
    assert event.detail == {"phase": "done", "method": "tools/call", "outcome": "ok"}

    summary = _one(records, "mcp.tools_call", user_id=dora, target="summarise_customer_orders")
    assert summary.event.result_digest == _digest(session["summary_text"])
    assert "m***@example.co.uk" in session["summary_text"]  # the digest is of the masked result


async def test_a_destructive_call_is_recorded_before_it_runs_and_a_denial_with_its_reason(
    session: dict[str, Any],
) -> None:
    records = session["records"]
    refunds = [r for r in records if r.event.kind == "mcp.tools_call" and r.event.target == "request_refund"]
    phases = [(r.event.arguments["order_id"], r.event.detail["phase"], r.event.outcome) for r in refunds]

    assert phases == [(2, "started", "ok"), (2, "done", "ok"), (6, "done", "denied")]  # denied before it ran
    allowed, denied = refunds[1].event, refunds[2].event
    assert (allowed.client_id, allowed.client_kind, allowed.username) == (VERIFIED_CLIENT, "cimd", "bob")
    assert (allowed.decision, allowed.reason) == ("allow", "refunds-up-to-limit")
    assert (denied.decision, denied.reason, denied.outcome) == ("deny", "default deny", "denied")
    assert denied.result_digest is None  # nothing but the error reached the agent


async def test_the_session_chain_verifies_and_an_edited_row_is_pointed_at(session: dict[str, Any]) -> None:
    server: LiveServer = session["server"]
    records: list[AuditRecord] = session["records"]
    target = next(r for r in records if r.event.kind == "mcp.tools_call" and r.event.target == "check_order_status")
    assert (await _verify(server)).returncode == 0

    engine = create_engine(server.settings.database_url, schema=server.settings.storage.schema_name)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                text("UPDATE audit_events SET target = 'summarise_customer_orders' WHERE stream = :s AND seq = :q"),
                {"s": target.stream, "q": target.seq},
            )
    finally:
        await engine.dispose()
    result = await _verify(server)

    assert result.returncode == 1
    assert f"stream {target.stream} seq {target.seq}" in result.stdout + result.stderr
    assert "hash_mismatch" in result.stdout + result.stderr


async def _verify(server: LiveServer) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWBRIDGE_")}
    env["DRAWBRIDGE_STORAGE__DATABASE_URL"] = server.settings.database_url
    if server.settings.storage.schema_name:
        env["DRAWBRIDGE_STORAGE__SCHEMA_NAME"] = server.settings.storage.schema_name
    command = [
        sys.executable,
        "-m",
        "drawbridge",
        "audit",
        "verify",
        "--dev",
        "--data-dir",
        str(server.settings.data_dir),
    ]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, env=env, timeout=60, check=False
    )


async def test_personal_data_in_arguments_is_masked_in_the_audit_store(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory()
    token = mint(server, scopes=("orders:read", "orders:refund"))
    async with mcp_client(server, token) as client:
        result = await client.call_tool("remove_item", {"item_id": 7, "note": "ask jo@example.com"})
    assert not result.is_error

    rows = [r for r in await _records(server) if r.event.target == "remove_item"]
    assert [r.event.arguments for r in rows] == [{"item_id": 7, "note": "ask j***@example.com"}] * 2
    assert "jo@example.com" not in json.dumps([r.as_dict() for r in await _records(server)], default=str)


async def _break_the_trail(server: LiveServer) -> None:
    """What a lost audit database looks like to the writer: the table it appends to is gone."""
    engine = create_engine(server.settings.database_url, schema=server.settings.storage.schema_name)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP TABLE audit_heads"))
    finally:
        await engine.dispose()


async def test_calls_fail_closed_when_the_trail_cannot_record(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory()
    token = mint(server, scopes=("orders:read", "orders:refund"))
    writes = len(WRITES)

    async with mcp_client(server, token) as client:
        await _break_the_trail(server)
        read = await client.call_tool("lookup_item", {"item_id": 3})
        write = await client.call_tool("remove_item", {"item_id": 9, "note": "unrecorded"})
        with pytest.raises(MCPError, match="could not be recorded"):
            await client.list_tools()
    async with server.client() as http:
        registration = await http.post("/register", json={"redirect_uris": ["http://127.0.0.1:9/cb"]})

    assert read.is_error
    assert "could not be recorded, so its result is withheld" in read.content[0].text  # type: ignore[union-attr]
    assert read.structured_content is None
    assert write.is_error
    assert "could not be recorded, so it did not run" in write.content[0].text  # type: ignore[union-attr]
    assert len(WRITES) == writes  # the destructive tool never ran
    assert registration.status_code == 503
    assert registration.json()["error"] == "temporarily_unavailable"
    assert registration.headers["retry-after"] == "5"


async def test_fail_open_runs_calls_unrecorded_when_configured(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    server = live_server_factory(audit={"fail_closed": False})
    token = mint(server, scopes=("orders:read", "orders:refund"))

    async with mcp_client(server, token) as client:
        await _break_the_trail(server)
        write = await client.call_tool("remove_item", {"item_id": 11, "note": "fail open"})

    assert not write.is_error
    assert WRITES[-1][1:] == (11, "fail open")


def test_otel_log_export_needs_an_otlp_endpoint(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match=r"audit\.otel_logs needs telemetry\.otlp_endpoint"):
        build_components(make_settings(audit={"otel_logs": True}))


def test_otel_log_export_adds_a_log_sink_the_app_shuts_down(make_settings: Callable[..., Settings]) -> None:
    components = build_components(
        make_settings(audit={"otel_logs": True}, telemetry={"otlp_endpoint": "http://127.0.0.1:9"})
    )
    assert components.audit_logs is not None  # built, not yet connected: nothing is sent before an event
    components.audit_logs.shutdown()
