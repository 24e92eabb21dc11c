"""The guard pipeline every tools/resources request passes through: scope, strict closed input, declared output.

Most tests go through the official client against a live server; the last ones call the guard middleware alone
to show it refuses even when the HTTP layer is not in front of it (stdio, or a bug upstream).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult, ListResourceTemplatesResult, ListToolsResult, TextContent

from drawbridge.guard import GuardMiddleware
from drawbridge.resource_server.endpoint import build_mcp_endpoint
from drawbridge.settings import McpSettings
from drawbridge.tools import Caller, ToolCall, Toolset, ToolsetContext, tool
from tests.conftest import LiveServer
from tests.resource_server.helpers import INIT, call, mcp_client, mint, post_mcp
from tests.toolsets import ALLOW_ALL, WRITES, LookupInput, LookupOutput, lookup_item, read_item, remove_item

READ = ("orders:read",)
BOTH = ("orders:read", "orders:refund")
SECRET = "postgres://admin:hunter2@db.internal/orders"


@pytest.fixture
def writes() -> list[tuple[str, int, str]]:
    """The destructive tool's record as it was before the test (compare to show nothing was done)."""
    return list(WRITES)


def text_of(result: CallToolResult) -> str:
    return " ".join(c.text for c in result.content if isinstance(c, TextContent))


# --- discovery -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scopes", "listed"),
    [(READ, ["lookup_item"]), (BOTH, ["lookup_item", "remove_item"]), (("orders:refund",), ["remove_item"])],
)
@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_tools_list_shows_only_what_the_token_may_call(
    live_server: LiveServer, scopes: tuple[str, ...], listed: list[str], mode: str
) -> None:
    async with mcp_client(live_server, mint(live_server, scopes=scopes), mode=mode) as client:
        tools = await client.list_tools()

    assert sorted(t.name for t in tools.tools) == listed


async def test_published_input_schema_is_closed_and_bounded(live_server: LiveServer) -> None:
    async with mcp_client(live_server, mint(live_server, scopes=BOTH)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}

    lookup = tools["lookup_item"].input_schema
    assert lookup["additionalProperties"] is False
    assert lookup["properties"]["item_id"]["minimum"] == 1
    assert lookup["properties"]["item_id"]["maximum"] == 1000
    assert lookup["properties"]["detail"]["enum"] == ["short", "full"]
    remove = tools["remove_item"].input_schema
    assert remove["additionalProperties"] is False
    assert remove["properties"]["note"]["maxLength"] == 20
    assert tools["lookup_item"].annotations is not None
    assert tools["lookup_item"].annotations.read_only_hint is True
    assert tools["remove_item"].annotations is not None
    assert tools["remove_item"].annotations.destructive_hint is True


# --- strict input ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "arguments",
    [
        {"item_id": 1, "extra": "smuggled"},
        {"item_id": 1, "detail": "everything"},
        {"item_id": 0},
        {"item_id": 1001},
        {"item_id": "5"},
        {"item_id": 5.0},
        {"item_id": True},
        {"item_id": None},
        {},
        {"detail": "short"},
    ],
    ids=[
        "extra-field",
        "out-of-enum",
        "below-minimum",
        "above-maximum",
        "string-for-int",
        "float-for-int",
        "bool-for-int",
        "null",
        "empty",
        "missing-required",
    ],
)
async def test_invalid_arguments_are_a_tool_error(live_server: LiveServer, arguments: dict[str, Any]) -> None:
    async with mcp_client(live_server, mint(live_server)) as client:
        result = await client.call_tool("lookup_item", arguments)

    assert result.is_error
    assert result.structured_content is None


@pytest.mark.parametrize(
    "arguments",
    [
        {"item_id": 1, "note": "ok", "confirm": True},
        {"item_id": 1, "note": "x" * 21},
        {"item_id": 0, "note": "ok"},
        {"item_id": "1", "note": "ok"},
        {"item_id": 1, "note": 5},
        {"item_id": 1},
    ],
    ids=["extra-field", "note-too-long", "below-minimum", "string-for-int", "int-for-string", "missing-note"],
)
async def test_invalid_arguments_to_the_destructive_tool_write_nothing(
    live_server: LiveServer, writes: list[Any], arguments: dict[str, Any]
) -> None:
    async with mcp_client(live_server, mint(live_server, scopes=BOTH)) as client:
        result = await client.call_tool("remove_item", arguments)

    assert result.is_error
    assert writes == WRITES


async def test_boundary_arguments_are_accepted(live_server: LiveServer, writes: list[Any]) -> None:
    async with mcp_client(live_server, mint(live_server, scopes=BOTH, subject="edge")) as client:
        low = await client.call_tool("lookup_item", {"item_id": 1, "detail": "full"})
        high = await client.call_tool("lookup_item", {"item_id": 1000})
        removed = await client.call_tool("remove_item", {"item_id": 1000, "note": "x" * 20})

    assert not low.is_error
    assert not high.is_error
    assert not removed.is_error
    assert [*writes, ("edge", 1000, "x" * 20)] == WRITES


# --- failures and output -----------------------------------------------------------------------------------------


async def test_tool_failure_is_a_tool_error_carrying_its_message(live_server: LiveServer) -> None:
    async with mcp_client(live_server, mint(live_server)) as client:
        result = await client.call_tool("lookup_item", {"item_id": 404})

    assert result.is_error
    assert text_of(result) == "item 404 not found"  # the tool's own ToolFailure text, relayed as-is


async def test_output_carries_only_declared_fields(live_server: LiveServer) -> None:
    async with mcp_client(live_server, mint(live_server, subject="reader")) as client:
        result = await client.call_tool("lookup_item", {"item_id": 8})

    assert not result.is_error
    assert result.structured_content == {"item_id": 8, "label": "item-8", "caller": "reader"}
    assert json.loads(text_of(result)) == result.structured_content
    assert "secret" not in text_of(result)


async def test_unknown_tool_is_refused_like_an_unpermitted_one(live_server: LiveServer) -> None:
    """Not permitted and not existing look the same (guard docstring): a JSON-RPC INVALID_PARAMS error."""
    async with mcp_client(live_server, mint(live_server)) as client:
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("no_such_tool", {"item_id": 1})

    assert unknown.value.code == INVALID_PARAMS


async def test_destructive_call_without_scope_is_refused_by_http_first(
    live_server: LiveServer, writes: list[Any]
) -> None:
    token = mint(live_server)
    async with live_server.client() as http:
        opened = await post_mcp(http, INIT, token)
        session = {"Mcp-Session-Id": opened.headers["mcp-session-id"]}
        response = await post_mcp(http, call("remove_item", {"item_id": 2, "note": "x"}), token, **session)

    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert writes == WRITES


# --- resources -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("scopes", "listed"), [(READ, ["items://{item_id}"]), (("orders:refund",), [])])
async def test_resource_templates_are_listed_only_with_their_scope(
    live_server: LiveServer, scopes: tuple[str, ...], listed: list[str]
) -> None:
    async with mcp_client(live_server, mint(live_server, scopes=scopes)) as client:
        templates = await client.list_resource_templates()

    assert [t.uri_template for t in templates.resource_templates] == listed


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_resource_reads_as_json(live_server: LiveServer, mode: str) -> None:
    async with mcp_client(live_server, mint(live_server, subject="reader"), mode=mode) as client:
        result = await client.read_resource("items://1")

    (content,) = result.contents
    assert content.mime_type == "application/json"
    assert json.loads(content.text) == {"item_id": 1, "label": "item-1", "caller": "reader"}  # type: ignore[union-attr]


async def test_missing_resource_is_a_json_rpc_error(live_server: LiveServer) -> None:
    async with mcp_client(live_server, mint(live_server)) as client:
        with pytest.raises(MCPError) as missing:
            await client.read_resource("items://404")

    assert missing.value.code == INVALID_PARAMS


# --- a tool that breaks ----------------------------------------------------------------------------------------


@tool(
    name="explode",
    title="Explode",
    description="Always fails with an unexpected internal error; exists only to test that internals never leak.",
    scopes=READ,
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=False,
)
async def explode(_call: ToolCall, _args: LookupInput) -> LookupOutput:
    raise RuntimeError(SECRET)


@tool(
    name="malformed",
    title="Malformed",
    description="Returns a result that does not fit its declared output model; exists only for the guard's tests.",
    scopes=READ,
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=False,
)
async def malformed(_call: ToolCall, _args: LookupInput) -> LookupOutput:
    return {"item_id": SECRET, "label": SECRET}  # type: ignore[return-value]  # the bug under test


def breaking(_context: ToolsetContext) -> Toolset:
    """The toolset of the tests below (``mcp.toolset = "tests.resource_server.test_guard:breaking"``)."""
    return Toolset(tools=(lookup_item, explode, malformed), policy_directory=ALLOW_ALL)


@pytest.fixture
def breaking_server(live_server_factory: Callable[..., LiveServer]) -> LiveServer:
    return live_server_factory(mcp={"toolset": f"{__name__}:breaking"})


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_unexpected_tool_exception_is_a_generic_tool_error(breaking_server: LiveServer, mode: str) -> None:
    """Guard docstring: failures inside a tool become a generic tool error, details to the log, not the agent.
    (A JSON-RPC error raised by ``call_tool`` fails this test too: legacy sends the exception text as its message.)"""
    async with mcp_client(breaking_server, mint(breaking_server), mode=mode) as client:
        result = await client.call_tool("explode", {"item_id": 1})
        still_serving = await client.call_tool("lookup_item", {"item_id": 1})

    assert result.is_error
    assert SECRET not in text_of(result)
    assert not still_serving.is_error


async def test_output_not_fitting_its_model_is_a_generic_tool_error(breaking_server: LiveServer) -> None:
    async with mcp_client(breaking_server, mint(breaking_server)) as client:
        result = await client.call_tool("malformed", {"item_id": 1})

    assert result.is_error
    assert result.structured_content is None
    assert SECRET not in text_of(result)


# --- the guard alone -------------------------------------------------------------------------------------------

TOOLSET = Toolset(tools=(lookup_item, remove_item), resources=(read_item,))


def reader(scopes: tuple[str, ...] = READ) -> Callable[[], Caller]:
    return lambda: Caller(subject="direct", client_id="stdio", scopes=frozenset(scopes))


EMPTY: dict[str, Any] = {
    "tools/list": ListToolsResult(tools=[]),
    "resources/templates/list": ListResourceTemplatesResult(resource_templates=[]),
}


class NextHandler:
    """The SDK's handler behind the guard: records whether it was reached."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def __call__(self, ctx: Any) -> Any:
        self.calls.append(ctx.method)
        return EMPTY.get(ctx.method)


@pytest.fixture
def after_guard() -> NextHandler:
    return NextHandler()


def ctx(method: str, params: dict[str, Any] | None) -> Any:
    return SimpleNamespace(method=method, params=params)


async def test_guard_alone_refuses_a_tool_outside_the_callers_scopes(
    after_guard: NextHandler, writes: list[Any]
) -> None:
    guard = GuardMiddleware(TOOLSET, reader())
    request = ctx("tools/call", {"name": "remove_item", "arguments": {"item_id": 1, "note": "x"}})

    with pytest.raises(MCPError) as refused:
        await guard(request, after_guard)

    assert refused.value.code == INVALID_PARAMS
    assert after_guard.calls == []
    assert writes == WRITES


@pytest.mark.parametrize(
    "request_",
    [
        ctx("tools/call", {"name": "lookup_item", "arguments": {"item_id": 1}}),
        ctx("tools/call", {"name": "remove_item", "arguments": {"item_id": 1, "note": "x"}}),
        ctx("resources/read", {"uri": "items://1"}),
    ],
    ids=["lookup_item", "remove_item", "resources/read"],
)
async def test_guard_alone_refuses_a_call_when_there_is_no_caller(
    after_guard: NextHandler, writes: list[Any], request_: Any
) -> None:
    guard = GuardMiddleware(TOOLSET, lambda: None)

    with pytest.raises(MCPError) as refused:
        await guard(request_, after_guard)

    assert refused.value.code == INVALID_PARAMS
    assert after_guard.calls == []
    assert writes == WRITES


@pytest.mark.parametrize("method", ["tools/list", "resources/templates/list"])
async def test_guard_alone_lists_none_of_its_own_when_there_is_no_caller(after_guard: NextHandler, method: str) -> None:
    # Only what the SDK itself serves (the conformance profile's fixtures; nothing in production) is listed.
    guard = GuardMiddleware(TOOLSET, lambda: None)

    result = await guard(ctx(method, None), after_guard)

    dumped = result.model_dump()
    assert dumped.get("tools", []) == []
    assert dumped.get("resource_templates", []) == []
    assert after_guard.calls == [method]


async def test_guard_alone_refuses_a_resource_outside_the_callers_scopes(after_guard: NextHandler) -> None:
    guard = GuardMiddleware(TOOLSET, reader(("orders:refund",)))

    with pytest.raises(MCPError) as refused:
        await guard(ctx("resources/read", {"uri": "items://1"}), after_guard)

    assert refused.value.code == INVALID_PARAMS
    assert after_guard.calls == []


async def test_guard_alone_runs_a_permitted_tool(after_guard: NextHandler, writes: list[Any]) -> None:
    guard = GuardMiddleware(TOOLSET, reader(BOTH))

    result = await guard(
        ctx("tools/call", {"name": "remove_item", "arguments": {"item_id": 3, "note": "n"}}), after_guard
    )

    assert isinstance(result, CallToolResult)
    assert not result.is_error
    assert result.structured_content == {"removed": 3}
    assert [*writes, ("direct", 3, "n")] == WRITES
    assert after_guard.calls == []


async def test_guard_alone_passes_other_methods_to_the_sdk(after_guard: NextHandler) -> None:
    guard = GuardMiddleware(TOOLSET, reader())

    await guard(ctx("ping", None), after_guard)
    await guard(ctx("resources/read", {"uri": "other://1"}), after_guard)

    assert after_guard.calls == ["ping", "resources/read"]


async def test_guard_alone_lists_only_permitted_tools(after_guard: NextHandler) -> None:
    guard = GuardMiddleware(TOOLSET, reader())

    listed = await guard(ctx("tools/list", None), after_guard)

    assert [t.name for t in listed.tools] == ["lookup_item"]  # type: ignore[union-attr]


# --- in-process, without HTTP (as over stdio) ------------------------------------------------------------------


@asynccontextmanager
async def stdio_like() -> AsyncIterator[Client]:
    """The endpoint's MCP server with a fixed caller holding orders:read, driven in-process by the SDK client."""
    endpoint = build_mcp_endpoint(
        TOOLSET,
        McpSettings(),
        resource="http://127.0.0.1:1/mcp",
        dev=True,
        validator=None,
        caller=reader(),
        max_body_bytes=65536,
    )
    async with Client(endpoint.server, mode="legacy") as client:
        yield client


async def test_without_http_an_unpermitted_tool_is_refused_and_not_run(writes: list[Any]) -> None:
    async with stdio_like() as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("remove_item", {"item_id": 1, "note": "x"})

    assert refused.value.code == INVALID_PARAMS
    assert writes == WRITES


async def test_without_http_unpermitted_and_unknown_tools_look_the_same() -> None:
    """Not permitted and not existing look the same (guard docstring), so tools can't be probed for."""
    async with stdio_like() as client:
        with pytest.raises(MCPError) as unpermitted:
            await client.call_tool("remove_item", {"item_id": 1, "note": "x"})
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("no_such_tool", {"item_id": 1, "note": "x"})

    assert unknown.value.code == unpermitted.value.code
