"""The guard: the SDK middleware every tools/resources request passes through, so no tool can skip a check.

Order of checks for a tool call: scopes → strict input → access policy (with the call's target loaded) → tool →
output model → masking (with the kinds the policy lets this caller see). A tool author cannot forget any of them:
the tool body only runs from here.

Threats: an agent calling a tool its token's scopes don't cover (refused here even if the HTTP layer missed it);
a user or client the access policy does not trust for this tool, these arguments or this record (denied before the
tool runs; the denial names no policy, the log does);
smuggled arguments (the SDK silently drops unknown top-level keys: we refuse them, and validate strictly against
the tool's closed model before the tool runs); over-sharing (results are re-validated against the declared output
model, which drops anything undeclared); tool discovery beyond one's rights (lists show only what the caller may
use). Failures inside a tool become a generic tool error; details go to the log, not to the agent.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    CallToolResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    ReadResourceResult,
    TextContent,
    TextResourceContents,
)
from mcp_types import ResourceTemplate as WireResourceTemplate
from mcp_types import Tool as WireTool
from pydantic import BaseModel, ValidationError

from drawbridge.errors import DrawbridgeError
from drawbridge.guard.access import DENIED_CALL, UNAVAILABLE_RESOURCE, AccessPolicy
from drawbridge.guard.masking import OutputMasking
from drawbridge.guard.observe import CallObserver, CallRecord
from drawbridge.policy import Decision
from drawbridge.telemetry.metrics import client_label, mcp_duration, mcp_requests, policy_denials
from drawbridge.telemetry.tracing import tracer
from drawbridge.tools import (
    Caller,
    DownstreamCaller,
    ResourceTemplate,
    Tool,
    ToolCall,
    ToolFailure,
    ToolInputError,
    Toolset,
)

log = structlog.get_logger(__name__)

CallerSource = Callable[[], Caller | None]


class GuardMiddleware:
    """An ``mcp`` ``ServerMiddleware`` that serves the toolset's tools and resources behind every check.

    Args:
        toolset: the tools and resource templates to serve.
        caller: returns who is calling (from the verified token over HTTP, from config over stdio).
    """

    def __init__(
        self,
        toolset: Toolset,
        caller: CallerSource,
        *,
        sdk_tools: Callable[[], Awaitable[set[str]]] | None = None,
        downstream: Callable[[Caller], DownstreamCaller | None] | None = None,
        masking: OutputMasking | None = None,
        policy: AccessPolicy | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self._toolset = toolset
        self._caller = caller
        self._sdk_tools = sdk_tools
        self._downstream = downstream
        self._masking = masking
        self._policy = policy
        self._observer = observer
        self._wire_tools = {t.name: _wire_tool(t) for t in toolset.tools}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        params = ctx.params or {}
        if ctx.method == "tools/list":
            listed = await self._list_tools(await call_next(ctx), self._caller())
            return await self._recorded(ctx, listed, [t.name for t in listed.tools])
        if ctx.method == "tools/call" and not await self._is_sdk_tool(params.get("name")):
            return await self._call_tool(params, self._require_caller(), _session_id(ctx))
        if ctx.method == "resources/templates/list":
            templates = await self._list_templates(await call_next(ctx), self._caller())
            return await self._recorded(ctx, templates, [t.uri_template for t in templates.resource_templates])
        if ctx.method == "resources/read" and self._is_ours(params.get("uri")):
            return await self._read_resource(params, self._require_caller(), _session_id(ctx))
        if ctx.method in _SESSION_OPENERS:
            return await self._recorded(ctx, await call_next(ctx), None)
        # Anything else (ping, SDK-registered fixtures of the test profile) goes on to the SDK.
        return await call_next(ctx)

    async def _recorded(self, ctx: ServerRequestContext[Any, Any], result: _Result, summary: Any) -> _Result:
        """Record a listing or a session opening (with the client's self-description), or withhold it."""
        client_info = (ctx.params or {}).get("clientInfo")
        arguments = {"clientInfo": client_info} if isinstance(client_info, dict) else {}
        record = CallRecord(ctx.method, "", self._caller(), arguments, _session_id(ctx), result=summary)
        if not await self._observe(record):
            raise MCPError(code=INTERNAL_ERROR, message="the request could not be recorded, so it is withheld")
        return result

    def _require_caller(self) -> Caller:
        caller = self._caller()
        if caller is None:
            raise MCPError(code=INVALID_PARAMS, message="no authenticated caller")
        return caller

    async def _is_sdk_tool(self, name: object) -> bool:
        """True only for a tool registered on the SDK itself (the conformance profile's fixtures)."""
        return (
            self._toolset.find(str(name)) is None
            and self._sdk_tools is not None
            and str(name) in await self._sdk_tools()
        )

    def _is_ours(self, uri: object) -> bool:
        return isinstance(uri, str) and any(t.match(uri) is not None for t in self._toolset.resources)

    async def _list_tools(self, from_sdk: HandlerResult, caller: Caller | None) -> ListToolsResult:
        theirs = _listed(from_sdk, ListToolsResult).tools
        if caller is None:
            return ListToolsResult(tools=theirs)  # no caller: none of ours are listed
        policy = self._policy
        allowed = [
            self._wire_tools[t.name]
            for t in self._toolset.tools
            if t.scopes <= caller.scopes and (policy is None or policy.may_list_tool(caller, t))
        ]
        return ListToolsResult(tools=[*theirs, *allowed])

    async def _call_tool(self, params: Any, caller: Caller, session_id: str | None) -> CallToolResult:
        arguments = params.get("arguments")
        record = CallRecord(
            "tools/call",
            str(params.get("name"))[:64],
            caller,
            dict(arguments) if isinstance(arguments, dict) else {},
            session_id,
        )
        try:
            result = await self._run_tool(params, caller, record)
        except MCPError as exc:
            record.outcome, record.reason = "unknown", exc.error.message
            await self._observe(record)
            raise
        if result.is_error and record.outcome == "ok":
            record.outcome = "error"
        record.result = result.structured_content
        if not await self._observe(record) and record.outcome != "unrecorded":  # unrecorded: already refused
            return _tool_error("the call could not be recorded, so its result is withheld; try again later")
        return result

    async def _run_tool(self, params: Any, caller: Caller, record: CallRecord) -> CallToolResult:
        tool = self._toolset.find(str(params.get("name")))
        if tool is None or not tool.scopes <= caller.scopes:
            # Not permitted and not existing look the same: listing rights are calling rights.
            raise MCPError(code=INVALID_PARAMS, message=f"unknown tool: {str(params.get('name'))[:64]}")
        record.read_only = bool(tool.annotations.read_only_hint)
        try:
            args = tool.input_model.model_validate(params.get("arguments") or {}, strict=True)
        except ValidationError as exc:
            record.outcome, record.reason = "invalid", f"invalid arguments: {_describe(exc)}"
            return _tool_error(record.reason)
        if self._policy is not None:
            with tracer.start_as_current_span("drawbridge.policy", attributes={"gen_ai.tool.name": tool.name}) as span:
                record.decision = decision = await self._policy.call(caller, tool, args)
                span.set_attribute("drawbridge.policy.allowed", decision.allowed)
                span.set_attribute("drawbridge.policy.ids", list(decision.policy_ids))
            if not decision.allowed:
                _log_denial(caller, "call_tool", tool.name, decision)
                policy_denials.add(1, {"tool": tool.name, "client": client_label(caller.client_id)})
                record.outcome, record.reason = "denied", DENIED_CALL
                return _tool_error(DENIED_CALL)
        if not record.read_only and self._observer is not None:
            try:
                await self._observer.before(record)
            except DrawbridgeError:
                log.exception("call_not_recorded", tool=tool.name)
                record.outcome, record.reason = "unrecorded", "the audit trail is unavailable"
                return _tool_error("the call could not be recorded, so it did not run; try again later")
        return await self._execute(tool, caller, args, record)

    async def _execute(
        self, tool: Tool[Any, Any], caller: Caller, args: BaseModel, record: CallRecord
    ) -> CallToolResult:
        with tracer.start_as_current_span("drawbridge.tool", attributes={"gen_ai.tool.name": tool.name}):
            try:
                downstream = self._downstream(caller) if self._downstream else None
                raw = await tool.handler(ToolCall(caller=caller, tool=tool.name, downstream=downstream), args)
            except ToolFailure as exc:
                record.reason = str(exc)
                return _tool_error(str(exc))
            except Exception:
                log.exception("tool_failed", tool=tool.name)
                record.reason = "the tool failed"
                return _tool_error("the tool failed; the operator can find the details in the server log")
        try:
            data = _only_declared(tool.output_model, raw).model_dump(mode="json")
        except ValidationError:
            log.error("tool_output_invalid", tool=tool.name)  # a bug in the tool; the agent learns nothing more
            record.reason = "invalid tool output"
            return _tool_error("the tool failed to produce a valid result")
        data = self._mask(tool.name, data, caller)
        return CallToolResult(content=[TextContent(type="text", text=json.dumps(data))], structured_content=data)

    async def _observe(self, record: CallRecord) -> bool:
        """Metrics always; then the observer (audit). False when the observer could not record the call."""
        client = client_label(record.caller.client_id) if record.caller else "none"
        labels = {"method": record.method, "target": _metric_target(record), "client": client}
        mcp_requests.add(1, {**labels, "outcome": record.outcome})
        mcp_duration.record(record.latency_ms / 1000, labels)
        if self._observer is None:
            return True
        try:
            await self._observer.after(record)
        except DrawbridgeError:
            log.exception("call_not_recorded", method=record.method, target=_metric_target(record))
            return False
        return True

    async def _list_templates(self, from_sdk: HandlerResult, caller: Caller | None) -> ListResourceTemplatesResult:
        policy = self._policy
        ours = [
            WireResourceTemplate(
                uri_template=r.uri_template,
                name=r.name,
                title=r.title,
                description=r.description,
                mime_type=r.mime_type,
            )
            for r in self._toolset.resources
            if caller is not None
            and r.scopes <= caller.scopes
            and (policy is None or policy.may_list_template(caller, r))
        ]
        theirs = _listed(from_sdk, ListResourceTemplatesResult).resource_templates
        return ListResourceTemplatesResult(resource_templates=[*theirs, *ours])

    async def _read_resource(self, params: Any, caller: Caller, session_id: str | None) -> ReadResourceResult:
        uri = params.get("uri")
        record = CallRecord("resources/read", str(uri)[:256], caller, {}, session_id)
        try:
            result = await self._run_read(uri, caller, record)
        except MCPError as exc:
            if record.outcome == "ok":
                record.outcome = "error"
            record.reason = exc.error.message
            await self._observe(record)
            raise
        record.result = result.contents[0].text if isinstance(result.contents[0], TextResourceContents) else None
        if not await self._observe(record):
            raise MCPError(code=INTERNAL_ERROR, message="the read could not be recorded, so it is withheld")
        return result

    async def _run_read(self, uri: Any, caller: Caller, record: CallRecord) -> ReadResourceResult:
        found = self._resource_for(uri, caller) if isinstance(uri, str) else None
        if found is None:
            record.outcome = "unknown"
            raise MCPError(code=INVALID_PARAMS, message="resource not found", data={"uri": str(uri)[:256]})
        template, values = found
        if self._policy is not None:
            with tracer.start_as_current_span("drawbridge.policy", attributes={"mcp.resource.uri": uri}) as span:
                record.decision = decision = await self._policy.read(caller, template, uri, values)
                span.set_attribute("drawbridge.policy.allowed", decision.allowed)
            if not decision.allowed:
                _log_denial(caller, "read_resource", template.name, decision)
                policy_denials.add(1, {"tool": template.name, "client": client_label(caller.client_id)})
                record.outcome = "denied"
                raise MCPError(code=INVALID_PARAMS, message=UNAVAILABLE_RESOURCE, data={"uri": uri[:256]})
        try:
            model = await template.reader(ToolCall(caller=caller, tool=template.name), values)
        except (ToolFailure, ToolInputError) as exc:
            raise MCPError(code=INVALID_PARAMS, message=str(exc), data={"uri": uri}) from exc
        text = json.dumps(self._mask(template.name, model.model_dump(mode="json"), caller))
        return ReadResourceResult(contents=[TextResourceContents(uri=uri, mime_type=template.mime_type, text=text)])

    def _mask(self, name: str, data: Any, caller: Caller) -> Any:
        if self._masking is None:
            return data
        unmasked = self._policy.unmasked(caller) if self._policy is not None else frozenset()
        with tracer.start_as_current_span("drawbridge.masking") as span:
            masked, report = self._masking.mask(name, data, unmasked=unmasked)
            span.set_attribute("drawbridge.masking.masked", report.total)
        if report.total:
            log.info("output_masked", source=name, counts=dict(report.counts))
        return masked

    def _resource_for(self, uri: str, caller: Caller) -> tuple[ResourceTemplate, dict[str, str]] | None:
        for template in self._toolset.resources:
            values = template.match(uri)
            if values is not None and template.scopes <= caller.scopes:
                return template, values
        return None


def _session_id(ctx: ServerRequestContext[Any, Any]) -> str | None:
    """The HTTP session id (2025-11-25 sessions), when the request came over HTTP with one."""
    headers = getattr(getattr(ctx, "request", None), "headers", None)
    value = headers.get("mcp-session-id") if headers is not None else None
    return value[:128] if isinstance(value, str) else None


def _metric_target(record: CallRecord) -> str:
    """Tool names are bounded (the toolset's); resource URIs are not, so reads are labelled by scheme only."""
    if record.method == "resources/read":
        return record.target.partition("://")[0][:32] + "://"
    return record.target


def _log_denial(caller: Caller, action: str, name: str, decision: Decision) -> None:
    """Which policies denied (or that none permitted) goes to the operator's log, never to the agent."""
    log.info(
        "policy_denied",
        action=action,
        target=name,
        user_id=caller.subject,
        client_id=caller.client_id,
        policies=list(decision.policy_ids),
        errors=list(decision.errors),
    )


def required_scopes(toolset: Toolset, method: str, params: Any) -> frozenset[str] | None:
    """The scopes a JSON-RPC request needs, when it names a known tool or resource (for HTTP step-up)."""
    if not isinstance(params, dict):
        return None
    if method == "tools/call" and isinstance(params.get("name"), str):
        tool = toolset.find(params["name"])
        return tool.scopes if tool else None
    if method == "resources/read" and isinstance(params.get("uri"), str):
        for template in toolset.resources:
            if template.match(params["uri"]) is not None:
                return template.scopes
    return None


_ListResult = TypeVar("_ListResult", ListToolsResult, ListResourceTemplatesResult)
_Result = TypeVar("_Result")
_SESSION_OPENERS = frozenset({"initialize", "server/discover"})


def _listed(result: HandlerResult, kind: type[_ListResult]) -> _ListResult:
    """The SDK's own list result (a model over HTTP, a dict in-process), as a model."""
    if result is None:
        return kind.model_validate({"tools": [], "resourceTemplates": []})
    return result if isinstance(result, kind) else kind.model_validate(result)


def _wire_tool(tool: Tool[Any, Any]) -> WireTool:
    return WireTool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=tool.input_schema(),
        output_schema=tool.output_schema(),
        annotations=tool.annotations,
    )


def _only_declared(model: type[BaseModel], raw: Any) -> BaseModel:
    data = raw.model_dump() if isinstance(raw, BaseModel) else raw
    return model.model_validate(data)


def _tool_error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _describe(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "arguments"
        message = "unexpected field" if error["type"] == "extra_forbidden" else error["msg"]
        parts.append(f"{where}: {message}")
    return "; ".join(parts)
