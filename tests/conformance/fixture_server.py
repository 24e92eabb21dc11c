"""TEST-ONLY conformance profile: Drawbridge with bearer auth off and the conformance suite's fixtures.

The official suite's ``conformance server`` scenarios connect as a plain MCP client (it cannot send a token) and
call fixtures of its own (``test_simple_text``, ``test://static-text``, ``test_simple_prompt``, ...). This module
builds the real application with :func:`drawbridge.app.build_app` and ``McpOptions(bearer_auth=False,
configure=register_fixtures)``, so every other layer stays on: the Host/Origin check, body limits, security
headers, CORS, the guard middleware (which passes SDK-registered fixtures on to the SDK), the SDK's transport for
both protocol eras and its request-state sealing. With no bearer token there is no principal, so :class:`FixedCaller`
presents one fixed, already-verified test caller (``--anonymous`` turns that off).

It lives under tests/ on purpose: nothing in ``src/`` imports it, so a production install can never serve it.
Run it with ``python -m tests.conformance.fixture_server --port P --data-dir D`` (``scripts/conformance`` does).

The fixtures follow the behaviour each scenario's description in the suite asks for; they are written here, not
copied from any SDK example server.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import struct
import warnings
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import uvicorn
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, UserMessage
from mcp.shared.exceptions import MCPError
from mcp_types import (
    MISSING_REQUIRED_CLIENT_CAPABILITY,
    AudioContent,
    CallToolResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    CreateMessageRequest,
    CreateMessageRequestParams,
    CreateMessageResult,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    EmbeddedResource,
    EmptyResult,
    ImageContent,
    InputRequest,
    InputRequiredResult,
    ListRootsRequest,
    ListRootsResult,
    ListToolsResult,
    PromptReference,
    ResourceTemplateReference,
    SamplingMessage,
    SetLevelRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
    UnsubscribeRequestParams,
)
from pydantic import BaseModel, Field, JsonValue
from starlette.types import ASGIApp, Receive, Scope, Send

from drawbridge.app import McpOptions, build_app
from drawbridge.settings import McpSettings, ServerSettings, Settings

TOOLSET = "tests.toolsets:basic"
_Fn = TypeVar("_Fn", bound=Callable[..., Any])


# --- Media: a 1x1 PNG and a short silent WAV, built here rather than pasted as opaque base64 ---------------------
def _png_pixel(red: int, green: int, blue: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)  # 1x1, 8-bit RGB, no interlace
    pixels = zlib.compress(bytes([0, red, green, blue]))  # filter byte 0, then one RGB pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def _wav_silence(samples: int = 8, rate: int = 8000) -> bytes:
    data = b"\x00\x00" * samples  # 16-bit mono
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


PNG = _png_pixel(255, 0, 0)
PNG_B64 = base64.b64encode(PNG).decode()
WAV_B64 = base64.b64encode(_wav_silence()).decode()

# --- JSON Schema 2020-12 preservation (json-schema-2020-12, SEP-1613/SEP-2106) ----------------------------------
JSON_SCHEMA_2020_12_TOOL = "json_schema_2020_12_tool"
JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {
        "address": {
            "$anchor": "addressDef",
            "type": "object",
            "properties": {"street": {"type": "string"}, "city": {"type": "string"}},
        }
    },
    "properties": {
        "name": {"type": "string"},
        "address": {"$ref": "#/$defs/address"},
        "contactMethod": {"type": "string", "enum": ["phone", "email"]},
        "phone": {"type": "string"},
        "email": {"type": "string"},
    },
    "allOf": [{"anyOf": [{"required": ["phone"]}, {"required": ["email"]}]}],
    "if": {"properties": {"contactMethod": {"const": "phone"}}, "required": ["contactMethod"]},
    "then": {"required": ["phone"]},
    "else": {"required": ["email"]},
    "additionalProperties": False,
}


# --- Elicitation schemas -----------------------------------------------------------------------------------------
class ElicitedAnswer(BaseModel):
    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


class ElicitedDefaults(BaseModel):
    """SEP-1034: a default for every primitive type."""

    name: str = Field(default="John Doe", description="User name")
    age: int = Field(default=30, description="User age")
    score: float = Field(default=95.5, description="User score")
    status: Literal["active", "inactive", "pending"] = Field(default="active", description="User status")
    verified: bool = Field(default=True, description="Verification status")


def _titled(pairs: list[tuple[str, str]]) -> list[JsonValue]:
    return [{"const": value, "title": title} for value, title in pairs]


class ElicitedEnums(BaseModel):
    """SEP-1330: the five enum shapes (untitled/titled single, legacy enumNames, untitled/titled multi)."""

    untitledSingle: Literal["option1", "option2", "option3"] = Field(description="Untitled single-select")
    titledSingle: str = Field(
        description="Titled single-select",
        json_schema_extra={
            "oneOf": _titled([("value1", "First Option"), ("value2", "Second Option"), ("value3", "Third Option")])
        },
    )
    legacyEnum: str = Field(
        description="Legacy titled enum",
        json_schema_extra={
            "enum": ["opt1", "opt2", "opt3"],
            "enumNames": ["Option One", "Option Two", "Option Three"],
        },
    )
    untitledMulti: list[Literal["option1", "option2", "option3"]] = Field(description="Untitled multi-select")
    titledMulti: list[str] = Field(
        description="Titled multi-select",
        json_schema_extra={
            "items": {
                "anyOf": _titled([("value1", "First Choice"), ("value2", "Second Choice"), ("value3", "Third Choice")])
            }
        },
    )


def _object_schema(**properties: str) -> dict[str, Any]:
    """A flat form schema whose properties (name -> JSON type) are all required."""
    return {
        "type": "object",
        "properties": {name: {"type": kind} for name, kind in properties.items()},
        "required": list(properties),
    }


def _ask(message: str, **properties: str) -> ElicitRequest:
    return ElicitRequest(params=ElicitRequestFormParams(message=message, requested_schema=_object_schema(**properties)))


def _sample(text: str, max_tokens: int) -> CreateMessageRequest:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=text))
    return CreateMessageRequest(params=CreateMessageRequestParams(messages=[message], max_tokens=max_tokens))


def _accepted(responses: Mapping[str, Any] | None, key: str) -> dict[str, Any] | None:
    """The content of an accepted elicitation answer under ``key``, or None."""
    answer = (responses or {}).get(key)
    if isinstance(answer, ElicitResult) and answer.action == "accept":
        return dict(answer.content or {})
    return None


def _sampled_text(responses: Mapping[str, Any] | None, key: str) -> str | None:
    answer = (responses or {}).get(key)
    if isinstance(answer, CreateMessageResult):
        content = answer.content
        return content.text if isinstance(content, TextContent) else "(non-text)"
    return None


# --- Fixture registry: module-level functions, registered on the SDK server by register_fixtures ------------------
_TOOLS: list[tuple[Callable[..., Any], dict[str, Any]]] = []
_PROMPTS: list[tuple[Callable[..., Any], dict[str, Any]]] = []
_RESOURCES: list[tuple[Callable[..., Any], str, dict[str, Any]]] = []


def _tool(description: str, **options: Any) -> Callable[[_Fn], _Fn]:
    """Collect ``fx_NAME`` as the tool ``NAME`` (the prefix keeps pytest and readers from taking it for a test)."""

    def register(fn: _Fn) -> _Fn:
        _TOOLS.append((fn, {"name": fn.__name__.removeprefix("fx_"), "description": description, **options}))
        return fn

    return register


def _prompt(description: str) -> Callable[[_Fn], _Fn]:
    """Collect ``fx_NAME`` as the prompt ``NAME``."""

    def register(fn: _Fn) -> _Fn:
        _PROMPTS.append((fn, {"name": fn.__name__.removeprefix("fx_"), "description": description}))
        return fn

    return register


def _resource(uri: str, mime_type: str, description: str) -> Callable[[_Fn], _Fn]:
    def register(fn: _Fn) -> _Fn:
        _RESOURCES.append((fn, uri, {"mime_type": mime_type, "description": description}))
        return fn

    return register


# --- Tools: content types ----------------------------------------------------------------------------------------
@_tool("Returns one text block.")
def fx_test_simple_text() -> str:
    return "This is a simple text response for testing."


@_tool("Returns one PNG image block.", structured_output=False)
def fx_test_image_content() -> list[ImageContent]:
    return [ImageContent(type="image", data=PNG_B64, mime_type="image/png")]


@_tool("Returns one WAV audio block.", structured_output=False)
def fx_test_audio_content() -> list[AudioContent]:
    return [AudioContent(type="audio", data=WAV_B64, mime_type="audio/wav")]


@_tool("Returns one embedded text resource.", structured_output=False)
def fx_test_embedded_resource() -> list[EmbeddedResource]:
    text = "This is an embedded resource content."
    resource = TextResourceContents(uri="test://embedded-resource", mime_type="text/plain", text=text)
    return [EmbeddedResource(type="resource", resource=resource)]


@_tool("Returns text, an image and an embedded JSON resource.", structured_output=False)
def fx_test_multiple_content_types() -> list[TextContent | ImageContent | EmbeddedResource]:
    data = json.dumps({"test": "data", "value": 123})
    resource = TextResourceContents(uri="test://mixed-content-resource", mime_type="application/json", text=data)
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG_B64, mime_type="image/png"),
        EmbeddedResource(type="resource", resource=resource),
    ]


@_tool("Always fails with a tool error (isError: true).")
def fx_test_error_handling() -> CallToolResult:
    message = "This tool intentionally returns an error for testing"
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


@_tool("Has a string argument mirrored into the Mcp-Param-Region header (SEP-2243).")
def fx_test_x_mcp_header(
    region: str = Field(description="Where to run.", json_schema_extra={"x-mcp-header": "Region"}),
) -> str:
    return f"region: {region}"


@_tool("Tool with JSON Schema 2020-12 features")
def fx_json_schema_2020_12_tool(name: str | None = None, contactMethod: str | None = None) -> str:
    # Listed with JSON_SCHEMA_2020_12 (see _ExplicitSchemas); these parameters only accept the call.
    return f"received name={name!r} contactMethod={contactMethod!r}"


# --- Tools: notifications and server-to-client requests (2025-11-25 wire) ----------------------------------------
@_tool("Sends three info log notifications while it runs.")
async def fx_test_tool_with_logging(ctx: Context) -> str:
    await ctx.info("Tool execution started")
    await asyncio.sleep(0.05)
    await ctx.info("Tool processing data")
    await asyncio.sleep(0.05)
    await ctx.info("Tool execution completed")
    return "Tool with logging executed successfully"


@_tool("Reports progress 0, 50 and 100 of 100 when given a progress token.")
async def fx_test_tool_with_progress(ctx: Context) -> str:
    await ctx.report_progress(progress=0, total=100, message="Completed step 0 of 100")
    await asyncio.sleep(0.05)
    await ctx.report_progress(progress=50, total=100, message="Completed step 50 of 100")
    await asyncio.sleep(0.05)
    await ctx.report_progress(progress=100, total=100, message="Completed step 100 of 100")
    meta = ctx.request_context.meta or {}
    return str(meta.get("progress_token", meta.get("progressToken", "")))


@_tool("Asks the client's model to answer the prompt (sampling/createMessage).")
async def fx_test_sampling(prompt: str, ctx: Context) -> str:
    message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
    result = await ctx.session.create_message(messages=[message], max_tokens=100)
    content = result.content
    return f"LLM response: {content.text if isinstance(content, TextContent) else '(non-text)'}"


@_tool("Asks the user for a username and email (elicitation/create).")
async def fx_test_elicitation(message: str, ctx: Context) -> str:
    result = await ctx.elicit(message=message, schema=ElicitedAnswer)
    content = result.data.model_dump_json() if result.action == "accept" else "{}"
    return f"User response: action={result.action}, content={content}"


@_tool("Elicits a form whose fields all have defaults (SEP-1034).")
async def fx_test_elicitation_sep1034_defaults(ctx: Context) -> str:
    result = await ctx.elicit(message="Please provide user information", schema=ElicitedDefaults)
    content = result.data.model_dump_json() if result.action == "accept" else "{}"
    return f"Elicitation completed: action={result.action}, content={content}"


@_tool("Elicits a form with every enum variant (SEP-1330).")
async def fx_test_elicitation_sep1330_enums(ctx: Context) -> str:
    result = await ctx.elicit(message="Please pick values for each enum variant", schema=ElicitedEnums)
    content = result.data.model_dump_json() if result.action == "accept" else "{}"
    return f"Elicitation completed: action={result.action}, content={content}"


# --- Tools: diagnostics (list changes, stream polling, per-request logging) ----------------------------------------
def _dynamic_tool() -> str:
    return "A tool that test_trigger_tool_change adds and removes."


def _dynamic_prompt() -> str:
    return "A prompt that test_trigger_prompt_change adds and removes."


@_tool("Adds or removes test_dynamic_tool, then announces that the tool list changed.")
async def fx_test_trigger_tool_change(ctx: Context) -> str:
    server = ctx.mcp_server
    if any(t.name == "test_dynamic_tool" for t in await server.list_tools()):
        server.remove_tool("test_dynamic_tool")
        done = "removed"
    else:
        server.add_tool(_dynamic_tool, name="test_dynamic_tool", description="Appears and disappears.")
        done = "added"
    await ctx.notify_tools_changed()
    return f"test_dynamic_tool {done}"


@_tool("Adds or removes test_dynamic_prompt, then announces that the prompt list changed.")
async def fx_test_trigger_prompt_change(ctx: Context) -> str:
    server = ctx.mcp_server
    if any(p.name == "test_dynamic_prompt" for p in await server.list_prompts()):
        server.remove_prompt("test_dynamic_prompt")
        done = "removed"
    else:
        prompt = Prompt.from_function(_dynamic_prompt, name="test_dynamic_prompt", description="Comes and goes.")
        server.add_prompt(prompt)
        done = "added"
    await ctx.notify_prompts_changed()
    return f"test_dynamic_prompt {done}"


@_tool("Logs, closes its SSE stream mid-call (SEP-1699 polling), logs again.")
async def fx_test_reconnection(ctx: Context) -> str:
    await ctx.info("Before disconnect")
    await ctx.close_sse_stream()  # a no-op unless the transport has an event store
    await asyncio.sleep(0.2)
    await ctx.info("After reconnect")
    return "Reconnection test completed"


@_tool("Logs at info; a 2026 request that set no logLevel must receive none of it.")
async def fx_test_logging_tool(ctx: Context) -> str:
    await ctx.info("test_logging_tool ran")
    return "Logged one info message (delivered only if the request asked for logs)."


@_tool("Needs user input: answers input_required, never with a request on the response stream.")
async def fx_test_streaming_elicitation(ctx: Context) -> str | InputRequiredResult:
    answer = _accepted(ctx.input_responses, "user_name")
    if answer is None:
        return InputRequiredResult(input_requests={"user_name": _ask("What is your name?", name="string")})
    return f"Hello, {answer.get('name', 'stranger')}!"


# --- Tools: multi-round-trip requests (SEP-2322, 2026-07-28 wire) --------------------------------------------------
@_tool("Asks for a name with input_required, then greets.")
async def fx_test_input_required_result_elicitation(ctx: Context) -> str | InputRequiredResult:
    answer = _accepted(ctx.input_responses, "user_name")
    if answer is None:  # first round, or the answer is missing or wrong: ask (again)
        return InputRequiredResult(input_requests={"user_name": _ask("What is your name?", name="string")})
    return f"Hello, {answer.get('name', 'stranger')}!"


@_tool("Asks the client's model a question with input_required.")
async def fx_test_input_required_result_sampling(ctx: Context) -> str | InputRequiredResult:
    text = _sampled_text(ctx.input_responses, "capital_question")
    if text is None:
        question = _sample("What is the capital of France?", 100)
        return InputRequiredResult(input_requests={"capital_question": question})
    return f"The model answered: {text}"


@_tool("Asks for the client's roots with input_required.")
async def fx_test_input_required_result_list_roots(ctx: Context) -> str | InputRequiredResult:
    answer = (ctx.input_responses or {}).get("client_roots")
    if not isinstance(answer, ListRootsResult):
        return InputRequiredResult(input_requests={"client_roots": ListRootsRequest()})
    return f"Roots: {', '.join(str(root.uri) for root in answer.roots) or '(none)'}"


@_tool("Round-trips requestState; answers state-ok when it comes back.")
async def fx_test_input_required_result_request_state(ctx: Context) -> str | InputRequiredResult:
    state = "confirm-round-1"
    if ctx.request_state == state and _accepted(ctx.input_responses, "confirm") is not None:
        return "state-ok: the echoed requestState was verified"
    return InputRequiredResult(input_requests={"confirm": _ask("Please confirm", ok="boolean")}, request_state=state)


@_tool("Asks for an elicitation, a sampling and roots in one round.")
async def fx_test_input_required_result_multiple_inputs(ctx: Context) -> str | InputRequiredResult:
    wanted = {"user_name", "greeting", "client_roots"}
    if ctx.request_state == "multiple" and wanted <= set(ctx.input_responses or {}):
        return "Every input answered; the call is complete."
    requests: dict[str, InputRequest] = {
        "user_name": _ask("What is your name?", name="string"),
        "greeting": _sample("Generate a greeting", 50),
        "client_roots": ListRootsRequest(),
    }
    return InputRequiredResult(input_requests=requests, request_state="multiple")


@_tool("Two elicitation rounds whose requestState evolves.")
async def fx_test_input_required_result_multi_round(ctx: Context) -> str | InputRequiredResult:
    state, responses = ctx.request_state, ctx.input_responses
    if state == "round-1" and (name := (_accepted(responses, "step1") or {}).get("name")) is not None:
        return InputRequiredResult(
            input_requests={"step2": _ask("Step 2: What is your favorite color?", color="string")},
            request_state=f"round-2:{json.dumps(name)}",
        )
    if state is not None and state.startswith("round-2:"):
        color = (_accepted(responses, "step2") or {}).get("color")
        if color is not None:
            return f"{json.loads(state.removeprefix('round-2:'))} likes {color}."
    step1 = _ask("Step 1: What is your name?", name="string")
    return InputRequiredResult(input_requests={"step1": step1}, request_state="round-1")


@_tool("requestState is sealed by the SDK, so a tampered state is refused before this runs.")
async def fx_test_input_required_result_tampered_state(ctx: Context) -> str | InputRequiredResult:
    if ctx.request_state == "tamper-check" and _accepted(ctx.input_responses, "confirm") is not None:
        return "state-ok: requestState integrity verified"
    confirm = _ask("Please confirm", ok="boolean")
    return InputRequiredResult(input_requests={"confirm": confirm}, request_state="tamper-check")


@_tool("Asks only for the kinds of input the client declared.")
async def fx_test_input_required_result_capabilities(ctx: Context) -> str | InputRequiredResult:
    if ctx.input_responses:
        return "Declared-capability input answered."
    caps = ctx.client_capabilities
    if caps is None:
        return "The client declared no capabilities; nothing to ask."
    requests: dict[str, InputRequest] = {}
    if caps.elicitation is not None:
        requests["ask"] = _ask("What is your name?", name="string")
    if caps.sampling is not None:
        requests["sample"] = _sample("Say hello", 50)
    if caps.roots is not None:
        requests["roots"] = ListRootsRequest()
    if not requests:
        return "The client declared no input capability; nothing to ask."
    return InputRequiredResult(input_requests=requests, request_state="capabilities")


@_tool("Needs the client's sampling capability; refuses with -32021 without it.")
async def fx_test_missing_capability(ctx: Context) -> str:
    caps = ctx.client_capabilities
    if caps is None or caps.sampling is None:
        raise MCPError(
            code=MISSING_REQUIRED_CLIENT_CAPABILITY,
            message="This tool needs the client's sampling capability",
            data={"requiredCapabilities": {"sampling": {}}},
        )
    return "The client declared sampling."


@_prompt("Asks for context with input_required before it renders.")
async def fx_test_input_required_result_prompt(ctx: Context) -> list[UserMessage] | InputRequiredResult:
    answer = _accepted(ctx.input_responses, "user_context")
    if answer is None:
        ask = _ask("What context should the prompt use?", context="string")
        return InputRequiredResult(input_requests={"user_context": ask})
    text = f"Use this context: {answer.get('context', '')}"
    return [UserMessage(role="user", content=TextContent(type="text", text=text))]


# --- Resources ---------------------------------------------------------------------------------------------------
@_resource("test://static-text", "text/plain", "A static text resource.")
def static_text() -> str:
    return "This is the content of the static text resource."


@_resource("test://static-binary", "image/png", "A static binary (PNG) resource.")
def static_binary() -> bytes:
    return PNG


@_resource("test://template/{id}/data", "application/json", "JSON data for any id (a template).")
def template_data(id: str) -> str:
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@_resource("test://watched-resource", "text/plain", "A resource one can subscribe to.")
def watched_resource() -> str:
    return "Watched resource content"


# --- Prompts -----------------------------------------------------------------------------------------------------
def _user_text(text: str) -> UserMessage:
    return UserMessage(role="user", content=TextContent(type="text", text=text))


@_prompt("A prompt without arguments.")
def fx_test_simple_prompt() -> list[UserMessage]:
    return [_user_text("This is a simple prompt for testing.")]


@_prompt("A prompt with two required arguments.")
def fx_test_prompt_with_arguments(
    arg1: str = Field(description="First test argument"), arg2: str = Field(description="Second test argument")
) -> list[UserMessage]:
    return [_user_text(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]


@_prompt("A prompt that embeds the resource it is given.")
def fx_test_prompt_with_embedded_resource(
    resourceUri: str = Field(description="URI of the resource to embed"),
) -> list[UserMessage]:
    text = "Embedded resource content for testing."
    embedded = TextResourceContents(uri=resourceUri, mime_type="text/plain", text=text)
    return [
        UserMessage(role="user", content=EmbeddedResource(type="resource", resource=embedded)),
        _user_text("Please process the embedded resource above."),
    ]


@_prompt("A prompt with an image.")
def fx_test_prompt_with_image() -> list[UserMessage]:
    return [
        UserMessage(role="user", content=ImageContent(type="image", data=PNG_B64, mime_type="image/png")),
        _user_text("Please analyze the image above."),
    ]


# --- Protocol utilities: completion, logging level, subscriptions (2025-11-25 wire) ------------------------------
COMPLETIONS = {"arg1": ["paris", "park", "party"], "arg2": ["world", "wonder"], "id": ["123", "456"]}
SUBSCRIBED: set[str] = set()  # resources/subscribe bookkeeping; nothing here changes, so nothing is ever sent


async def complete(
    ref: PromptReference | ResourceTemplateReference, argument: CompletionArgument, context: CompletionContext | None
) -> Completion:
    values = [v for v in COMPLETIONS.get(argument.name, []) if v.startswith(argument.value)]
    return Completion(values=values, total=len(values), has_more=False)


async def set_level(_ctx: ServerRequestContext[Any, Any], _params: SetLevelRequestParams) -> EmptyResult:
    return EmptyResult()


async def subscribe(_ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams) -> EmptyResult:
    SUBSCRIBED.add(str(params.uri))
    return EmptyResult()


async def unsubscribe(_ctx: ServerRequestContext[Any, Any], params: UnsubscribeRequestParams) -> EmptyResult:
    SUBSCRIBED.discard(str(params.uri))
    return EmptyResult()


class _ExplicitSchemas:
    """SDK middleware that lists ``json_schema_2020_12_tool`` with its hand-written 2020-12 input schema.

    MCPServer derives input schemas from function signatures, which cannot express ``$defs``/``if``/``then``; the
    suite only checks that the listed schema keeps those keywords.
    """

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method != "tools/list" or result is None:
            return result
        listed = result if isinstance(result, ListToolsResult) else ListToolsResult.model_validate(result)
        tools = [
            t.model_copy(update={"input_schema": JSON_SCHEMA_2020_12}) if t.name == JSON_SCHEMA_2020_12_TOOL else t
            for t in listed.tools
        ]
        return listed.model_copy(update={"tools": tools})


def register_fixtures(server: MCPServer) -> None:
    """Register every fixture on the SDK server (``McpOptions.configure``)."""
    for fn, options in _TOOLS:
        server.add_tool(fn, **options)
    for fn, options in _PROMPTS:
        server.prompt(**options)(fn)
    for fn, uri, options in _RESOURCES:
        server.resource(uri, **options)(fn)
    server.completion()(complete)  # type: ignore[no-untyped-call]  # the SDK leaves completion() unannotated
    # MCPServer has no public hook for these three handshake-era methods: register them on its low-level server.
    lowlevel = server._lowlevel_server
    lowlevel.add_request_handler("logging/setLevel", SetLevelRequestParams, set_level)
    lowlevel.add_request_handler("resources/subscribe", SubscribeRequestParams, subscribe)
    lowlevel.add_request_handler("resources/unsubscribe", UnsubscribeRequestParams, unsubscribe)
    server.middleware.append(_ExplicitSchemas())


def fixture_settings(port: int, data_dir: Path, host: str = "127.0.0.1") -> Settings:
    """Dev-mode settings on a loopback URL: the suite's DNS-rebinding check needs a localhost server."""
    return Settings(
        data_dir=data_dir,
        server=ServerSettings(host=host, port=port, public_url=f"http://{host}:{port}", dev=True),
        mcp=McpSettings(toolset=TOOLSET),
    )


class FixedCaller:
    """ASGI wrapper that presents one fixed, already-verified principal to the MCP endpoint.

    With bearer auth off nobody is authenticated, and the guard refuses ``tools/list`` and
    ``resources/templates/list`` without a caller ("no authenticated caller", -32602), which fails every scenario
    that lists tools. This puts what ``BearerMiddleware`` would put after verifying a token (``scope["user"]``)
    in front of the endpoint, with every scope of the toolset, so the guard lists and serves its own tools too.
    ``--anonymous`` turns it off.
    """

    def __init__(self, app: ASGIApp, *, mcp_path: str, scopes: list[str]) -> None:
        self.app = app
        self._mcp_path = mcp_path
        self._token = AccessToken(
            token="conformance-fixture",  # a label; nothing verifies it
            client_id="conformance-suite",
            scopes=scopes,
            subject="conformance-suite",
            claims={"preferred_username": "conformance"},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self._mcp_path:
            scope = {**scope, "user": AuthenticatedUser(self._token)}
        await self.app(scope, receive, send)


def build_fixture_app(port: int, data_dir: Path, *, anonymous: bool = False) -> ASGIApp:
    settings = fixture_settings(port, data_dir)
    app = build_app(settings, mcp_options=McpOptions(bearer_auth=False, configure=register_fixtures))
    if anonymous:
        return app
    scopes = sorted(app.state.components.toolset.scopes())
    return FixedCaller(app, mcp_path=settings.auth.resource_path, scopes=scopes)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument(
        "--anonymous", action="store_true", help="no fixed caller: MCP requests arrive with no principal at all"
    )
    args = parser.parse_args(argv)
    # The handshake-era logging fixtures use APIs the SDK marks deprecated for 2026-07-28; that is the point.
    warnings.filterwarnings("ignore", message=".*deprecated as of 2026-07-28.*")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    uvicorn.run(
        build_fixture_app(args.port, args.data_dir, anonymous=args.anonymous),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        server_header=False,
    )


if __name__ == "__main__":
    main()
