"""The access policy end to end: the demo served over HTTP, tokens from the server's own issuer, the official client.

A few representative decisions (tests/policy/test_demo_policies.py has the whole table), what a denial looks like
on the wire and that it writes nothing, per-caller listings, masking that follows the policy, start-up refusals,
the policy switch and directory override, and hot reload of edited policy files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, TextContent
from sqlalchemy import select

from drawbridge.app import build_app
from drawbridge.demo.payments import PaymentsApi
from drawbridge.demo.store import refunds
from drawbridge.demo.tools import POLICIES
from drawbridge.errors import ConfigError
from drawbridge.guard.access import DENIED_CALL, UNAVAILABLE_RESOURCE
from drawbridge.policy import PolicyError
from drawbridge.storage.database import create_engine
from tests.auth_server.oauth_flow import Flow, add_user, jwt_claims
from tests.conftest import LiveServer, SettingsFactory
from tests.resource_server.helpers import VERIFIED_CLIENT, mcp_client, mint

DEMO = {"toolset": "drawbridge.demo:toolset"}
BOTH = ("orders:read", "orders:refund")
DCR_CLIENT = "dcr-3f9c2a7e"  # a dynamically registered client: not an https URL, so unverified

ALICE: dict[str, Any] = {"subject": "alice", "roles": ("support",), "username": "alice", "client_id": VERIFIED_CLIENT}
BOB: dict[str, Any] = {
    "subject": "bob",
    "roles": ("support", "refunds"),
    "username": "bob",
    "client_id": VERIFIED_CLIENT,
}
BOB_UNVERIFIED = {**BOB, "client_id": DCR_CLIENT}
THOMAS: dict[str, Any] = {
    "subject": "thomas",
    "roles": ("customer",),
    "username": "thomas",
    "client_id": VERIFIED_CLIENT,
}
NOBODY: dict[str, Any] = {"subject": "nobody", "roles": (), "username": "nobody", "client_id": VERIFIED_CLIENT}

REFUND_2 = {"order_id": 2, "reason": "damaged"}  # £84.98: within the policy's £250 limit
REFUND_6 = {"order_id": 6, "reason": "damaged"}  # £307.95: above the policy's limit, below the tool's own £500
CUSTOMER_1 = {"customer_id": 1, "period": "all_time"}
CUSTOMER_1_EMAIL = "mohammed.smith1@example.co.uk"
CUSTOMER_1_NI = "XK 98 76 44 A"


@pytest.fixture
def server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory(mcp=DEMO)


@pytest.fixture
def policy_copy(tmp_path: Path) -> Path:
    """An editable copy of the demo's policies (copied with their mtimes, so any edit is a change)."""
    return Path(shutil.copytree(POLICIES, tmp_path / "policies"))


def text_of(result: CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


def _token(server: LiveServer, who: dict[str, Any], scopes: tuple[str, ...] = BOTH) -> str:
    return mint(server, scopes=scopes, **who)


def _payments(server: LiveServer) -> PaymentsApi:
    api = server.components.toolset.routes[0].routes[0].endpoint.__self__  # type: ignore[attr-defined]
    assert isinstance(api, PaymentsApi)
    return api


async def _refunded_orders(server: LiveServer) -> list[int]:
    """The orders with a refund request on file, read through a connection of this test's own event loop."""
    engine = create_engine(server.settings.database_url, schema=server.settings.storage.schema_name)
    try:
        async with engine.connect() as conn:
            return sorted((await conn.execute(select(refunds.c.order_id))).scalars())
    finally:
        await engine.dispose()


async def _call(server: LiveServer, who: dict[str, Any], name: str, arguments: dict[str, Any]) -> CallToolResult:
    async with mcp_client(server, _token(server, who)) as client:
        return await client.call_tool(name, arguments)


async def _call_until_allowed(client: Client, name: str, arguments: dict[str, Any]) -> CallToolResult:
    """Call until the policy allows it (hot reload runs on the server's own timer); at most 5 s."""
    with anyio.fail_after(5):
        while True:
            result = await client.call_tool(name, arguments)
            if not result.is_error:
                return result
            assert text_of(result) == DENIED_CALL
            await anyio.sleep(0.02)


# --- decisions on the wire ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "arguments"),
    [
        pytest.param(ALICE, REFUND_2, id="support-has-no-refund-policy"),
        pytest.param(BOB, REFUND_6, id="refunds-above-the-policy-limit"),
        pytest.param(BOB_UNVERIFIED, REFUND_2, id="refunds-through-an-unverified-client"),
        pytest.param(NOBODY, REFUND_2, id="no-roles"),
    ],
)
async def test_a_denied_refund_is_a_tool_error_that_writes_nothing(
    server: LiveServer, who: dict[str, Any], arguments: dict[str, Any]
) -> None:
    before = await _refunded_orders(server)

    result = await _call(server, who, "request_refund", arguments)

    assert result.is_error is True
    assert text_of(result) == DENIED_CALL  # the same words for every denial: no policy id, file or limit
    assert result.structured_content is None
    assert await _refunded_orders(server) == before
    assert _payments(server).cases == []


async def test_an_allowed_refund_is_filed_and_opens_a_payment_case(server: LiveServer) -> None:
    result = await _call(server, BOB, "request_refund", REFUND_2)

    assert result.is_error is False, text_of(result)
    assert 2 in await _refunded_orders(server)
    assert [case["order_id"] for case in _payments(server).cases] == [2]


@pytest.mark.parametrize(
    ("who", "name", "arguments"),
    [
        pytest.param(ALICE, "summarise_customer_orders", CUSTOMER_1, id="support-summarises"),
        pytest.param(BOB_UNVERIFIED, "check_order_status", {"order_id": 2}, id="unverified-client-reads"),
        pytest.param(THOMAS, "check_order_status", {"order_id": 27}, id="customer-checks-own-order"),
    ],
)
async def test_permitted_reads_run_the_tool(
    server: LiveServer, who: dict[str, Any], name: str, arguments: dict[str, Any]
) -> None:
    result = await _call(server, who, name, arguments)

    assert result.is_error is False, text_of(result)
    assert result.structured_content is not None


async def test_a_customer_checking_another_customers_order_is_denied(server: LiveServer) -> None:
    result = await _call(server, THOMAS, "check_order_status", {"order_id": 2})

    assert result.is_error is True
    assert text_of(result) == DENIED_CALL


async def test_a_customer_reads_their_own_order_resource(server: LiveServer) -> None:
    async with mcp_client(server, _token(server, THOMAS)) as client:
        result = await client.read_resource("orders://27")

    (content,) = result.contents
    assert json.loads(content.text)["order_id"] == 27  # type: ignore[union-attr]


@pytest.mark.parametrize("uri", ["orders://2", "orders://999"], ids=["another-customers", "unknown"])
async def test_a_denied_read_is_a_json_rpc_error_that_looks_like_a_missing_resource(
    server: LiveServer, uri: str
) -> None:
    async with mcp_client(server, _token(server, THOMAS)) as client:
        with pytest.raises(MCPError) as refused:
            await client.read_resource(uri)

    assert refused.value.code == INVALID_PARAMS
    assert refused.value.message == UNAVAILABLE_RESOURCE


# --- listings ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "tools", "templates"),
    [
        pytest.param(ALICE, ["check_order_status", "summarise_customer_orders"], ["orders://{order_id}"], id="alice"),
        pytest.param(
            BOB,
            ["check_order_status", "request_refund", "summarise_customer_orders"],
            ["orders://{order_id}"],
            id="bob",
        ),
        pytest.param(
            BOB_UNVERIFIED,
            ["check_order_status", "summarise_customer_orders"],
            ["orders://{order_id}"],
            id="bob-unverified-client",
        ),
        pytest.param(THOMAS, ["check_order_status"], ["orders://{order_id}"], id="thomas"),
        pytest.param(NOBODY, [], [], id="no-roles"),
    ],
)
async def test_listings_show_each_caller_only_what_the_policy_lets_them_use(
    server: LiveServer, who: dict[str, Any], tools: list[str], templates: list[str]
) -> None:
    async with mcp_client(server, _token(server, who)) as client:
        listed_tools = await client.list_tools()
        listed_templates = await client.list_resource_templates()

    assert sorted(t.name for t in listed_tools.tools) == tools
    assert [t.uri_template for t in listed_templates.resource_templates] == templates


# --- masking follows the policy ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "email"),
    [
        pytest.param(ALICE, "m***@example.co.uk", id="support-sees-the-domain-only"),
        pytest.param(BOB, CUSTOMER_1_EMAIL, id="refunds-sees-emails-in-clear"),
    ],
)
async def test_the_policy_decides_which_personal_data_is_unmasked(
    server: LiveServer, who: dict[str, Any], email: str
) -> None:
    result = await _call(server, who, "summarise_customer_orders", CUSTOMER_1)

    summary = result.structured_content
    assert summary is not None
    assert summary["email"] == email
    assert summary["last_message"].startswith("Hi, I moved house.")
    assert CUSTOMER_1_NI not in summary["last_message"]  # no policy unmasks NI numbers, for anyone
    assert json.loads(text_of(result)) == summary  # the text rendering is masked the same way


# --- start-up ----------------------------------------------------------------------------------------------------


def test_a_policy_naming_an_unknown_tool_stops_start_up_with_file_and_line(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    (tmp_path / "renamed.cedar").write_text(
        "// cancel_order was renamed; this policy was not updated.\n"
        '@id("support-cancels")\n'
        'permit (principal in Role::"support", action == Action::"call_tool", resource == Tool::"cancel_order");\n'
    )
    settings = make_settings(mcp=DEMO, policy={"directory": str(tmp_path)})

    with pytest.raises(ConfigError) as refused:
        build_app(settings)

    path = tmp_path / "renamed.cedar"
    assert f"{path}:2:" in str(refused.value)
    assert isinstance(refused.value.__cause__, PolicyError)
    assert [(p.file, p.line, p.kind) for p in refused.value.__cause__.problems] == [(str(path), 2, "unknown_tool")]


def test_an_empty_policy_directory_stops_start_up(make_settings: SettingsFactory, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    settings = make_settings(mcp=DEMO, policy={"directory": str(empty)})

    with pytest.raises(ConfigError) as refused:
        build_app(settings)

    assert str(empty) in str(refused.value)
    assert isinstance(refused.value.__cause__, PolicyError)
    assert [p.kind for p in refused.value.__cause__.problems] == ["empty"]


async def test_with_policy_disabled_scopes_alone_decide(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(mcp=DEMO, policy={"enabled": False})
    dcr_without_roles = {"subject": "someone", "roles": (), "client_id": DCR_CLIENT}

    async with mcp_client(server, _token(server, dcr_without_roles)) as client:
        listed = await client.list_tools()
        result = await client.call_tool("request_refund", REFUND_2)

    assert "request_refund" in {t.name for t in listed.tools}
    assert result.is_error is False, text_of(result)
    assert 2 in await _refunded_orders(server)


async def test_a_policy_directory_in_settings_replaces_the_toolsets_policies(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    (tmp_path / "support.cedar").write_text(
        '@id("support-does-everything")\npermit (principal in Role::"support", action, resource);\n'
    )
    server = live_server_factory(mcp=DEMO, policy={"directory": str(tmp_path)})

    result = await _call(server, ALICE, "request_refund", REFUND_2)  # the demo's own policies deny this

    assert result.is_error is False, text_of(result)
    assert 2 in await _refunded_orders(server)


# --- hot reload --------------------------------------------------------------------------------------------------


async def test_an_edited_policy_serves_without_a_restart(
    live_server_factory: Callable[..., LiveServer], policy_copy: Path
) -> None:
    server = live_server_factory(mcp=DEMO, policy={"directory": str(policy_copy), "reload_seconds": 0.05})
    refunds_policy = policy_copy / "refunds.cedar"

    async with mcp_client(server, _token(server, BOB)) as client:
        denied = await client.call_tool("request_refund", REFUND_6)
        assert text_of(denied) == DENIED_CALL

        refunds_policy.write_text(refunds_policy.read_text().replace("<= 25000", "<= 50000"))
        allowed = await _call_until_allowed(client, "request_refund", REFUND_6)

    assert allowed.structured_content is not None
    assert allowed.structured_content["order_id"] == 6
    assert 6 in await _refunded_orders(server)


async def test_a_broken_edit_keeps_the_previous_policies_serving(
    live_server_factory: Callable[..., LiveServer], policy_copy: Path
) -> None:
    server = live_server_factory(mcp=DEMO, policy={"directory": str(policy_copy), "reload_seconds": 0.05})
    engine = server.components.policy
    assert engine is not None
    refunds_policy = policy_copy / "refunds.cedar"
    broken = policy_copy / "broken.cedar"

    # A broken file and a good edit together: all or nothing, so neither may take effect. The broken file comes
    # first, so the reload loop never sees the good edit alone.
    broken.write_text('permit (principal in Role::"support", action, resource\n')
    refunds_policy.write_text(refunds_policy.read_text().replace("<= 25000", "<= 50000"))
    # The same check the server's reload loop runs: it rejects the edit whichever of the two looks first.
    assert engine.reload_if_changed() is False

    async with mcp_client(server, _token(server, BOB)) as client:
        still_denied = await client.call_tool("request_refund", REFUND_6)
        still_allowed = await client.call_tool("check_order_status", {"order_id": 2})
        assert text_of(still_denied) == DENIED_CALL
        assert still_allowed.is_error is False, text_of(still_allowed)

        broken.unlink()  # fixing the directory lets the good edit through
        allowed = await _call_until_allowed(client, "request_refund", REFUND_6)

    assert allowed.is_error is False


async def test_policies_see_the_groups_in_the_users_token(
    live_server_factory: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """Groups come from the directory into the token (``groups`` claim) and from there to ``principal.groups``."""
    (tmp_path / "groups.cedar").write_text(
        '@id("uk-team-looks-up")\n'
        'permit (principal, action in [Action::"call_tool", Action::"list"], resource == Tool::"lookup_item")\n'
        'when { principal.groups.contains("uk") };\n'
    )
    server = live_server_factory(policy={"directory": str(tmp_path)})
    await add_user(server.settings, server.clock, "gwen", ("support",), groups=("uk",))
    await add_user(server.settings, server.clock, "hugo", ("support",))
    results = {}
    for name in ("gwen", "hugo"):
        async with server.client() as http:  # one browser each: a shared cookie jar would sign hugo in as gwen
            flow = Flow(http, resource=server.settings.resource_url)
            await flow.register()
            tokens = await flow.sign_in(name, scope="orders:read")
            assert jwt_claims(tokens["access_token"])["groups"] == (["uk"] if name == "gwen" else [])
            async with mcp_client(server, tokens["access_token"]) as client:
                results[name] = await client.call_tool("lookup_item", {"item_id": 1})

    assert not results["gwen"].is_error
    assert results["hugo"].is_error
