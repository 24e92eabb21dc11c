"""Defining tools and resources: the tool-author API.

A tool is an async function ``(call, args) -> output`` whose ``args`` and return types are pydantic models.
The decorator checks the design rules at definition time (flat strict inputs, complete description, declared
output, explicit annotations, required scopes), so a badly designed tool fails at start-up, not in production.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from mcp_types import ToolAnnotations
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute

from drawbridge.clock import Clock
from drawbridge.storage.database import Reader
from drawbridge.tools.errors import ToolDefinitionError
from drawbridge.tools.rules import check_description, check_input_model, check_output_model

InputT = TypeVar("InputT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_SCOPE = re.compile(r"^[a-z][a-z0-9_.-]*(:[a-z0-9_.-]+)*$")


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling: the user (token subject), the client acting for them, and what they were granted."""

    subject: str
    client_id: str
    scopes: frozenset[str]
    roles: tuple[str, ...] = ()
    username: str | None = None
    client_verified: bool = False  # the client proved who it is (a CIMD URL we fetched, or the local stdio user)
    groups: tuple[str, ...] = ()


AttributeType = Literal["String", "Long", "Boolean"]
AttributeValue = str | int | bool
TargetLoader = Callable[[Mapping[str, Any]], Awaitable[Mapping[str, AttributeValue] | None]]


@dataclass(frozen=True, slots=True)
class Target:
    """What a call touches, described for the access policy: e.g. the order a refund is for, with its total and owner.

    Policies decide on the arguments *and* on facts the arguments only point at ("refund order 42" says nothing about
    how much order 42 is worth). ``load`` gets the validated arguments (or a resource URI's parameters) and returns
    those facts, typed by ``types``; None (or a missing key) when there is nothing to describe, such as an unknown
    order. It runs before the policy decision and before the tool, so it must only read.
    """

    types: Mapping[str, AttributeType]
    load: TargetLoader

    def __post_init__(self) -> None:
        bad = [name for name in self.types if not _NAME.fullmatch(name)]
        if bad:
            raise ToolDefinitionError(f"target attribute names must be snake_case: {bad}")


@dataclass(frozen=True, slots=True)
class DownstreamResponse:
    """A downstream API's answer."""

    status: int
    body: Any


class DownstreamCaller(Protocol):
    """Calls registered downstream APIs with a token exchanged for the caller (RFC 8693); never the user's token."""

    async def request(
        self, api: str, method: str, path: str, *, json: Any = None, scopes: tuple[str, ...] | None = None
    ) -> DownstreamResponse:
        """Send ``method path`` to the API registered as ``api``, as the calling user, with ``scopes`` (default:
        everything the user delegated that the API accepts)."""
        ...


@dataclass(frozen=True, slots=True)
class ToolCall:
    """What a tool body gets besides its arguments."""

    caller: Caller
    tool: str
    downstream: DownstreamCaller | None = None


Handler = Callable[[ToolCall, InputT], Awaitable[OutputT]]


@dataclass(frozen=True, slots=True)
class Tool(Generic[InputT, OutputT]):
    """A registered tool and everything the guard needs to enforce around it."""

    name: str
    title: str
    description: str
    scopes: frozenset[str]
    annotations: ToolAnnotations
    input_model: type[InputT]
    output_model: type[OutputT]
    handler: Handler[InputT, OutputT]
    target: Target | None = None

    def input_schema(self) -> dict[str, Any]:
        """The published JSON schema: exactly the input model's, closed (``additionalProperties: false``)."""
        return self.input_model.model_json_schema()

    def output_schema(self) -> dict[str, Any]:
        return self.output_model.model_json_schema()


def tool(
    *,
    name: str,
    title: str,
    description: str,
    scopes: tuple[str, ...],
    read_only: bool,
    destructive: bool,
    idempotent: bool,
    open_world: bool,
    waive: Mapping[str, str] | None = None,
    target: Target | None = None,
) -> Callable[[Handler[InputT, OutputT]], Tool[InputT, OutputT]]:
    """Declare a tool. Annotations are required keywords: an author must decide each of them.

    Args:
        scopes: OAuth scopes a caller needs (all of them) to see and call the tool.
        waive: field name -> reason, for input fields that cannot follow the schema rules.
        target: loads what the call touches, for the access policy (see :class:`Target`).

    Raises:
        ToolDefinitionError: the definition breaks a design rule.
    """

    def register(handler: Handler[InputT, OutputT]) -> Tool[InputT, OutputT]:
        if not _NAME.fullmatch(name):
            raise ToolDefinitionError(f"tool name {name!r} must be snake_case, at most 64 characters")
        if not scopes or not all(_SCOPE.fullmatch(s) for s in scopes):
            raise ToolDefinitionError(f"tool {name!r}: declare at least one well-formed scope")
        if read_only and destructive:
            raise ToolDefinitionError(f"tool {name!r}: a read-only tool cannot be destructive")
        check_description(name, description)
        input_model, output_model = _models(name, handler)
        check_input_model(name, input_model, waive or {})
        check_output_model(name, output_model)
        clashing = sorted(set(target.types) & set(input_model.model_fields)) if target else []
        if clashing:
            raise ToolDefinitionError(f"tool {name!r}: target attributes {clashing} clash with argument names")
        return Tool(
            name=name,
            title=title,
            description=description.strip(),
            scopes=frozenset(scopes),
            annotations=ToolAnnotations(
                title=title,
                read_only_hint=read_only,
                destructive_hint=destructive,
                idempotent_hint=idempotent,
                open_world_hint=open_world,
            ),
            input_model=input_model,
            output_model=output_model,
            handler=handler,
            target=target,
        )

    return register


def _models(name: str, handler: Callable[..., Any]) -> tuple[Any, Any]:
    try:
        hints = typing.get_type_hints(handler)
    except NameError as exc:
        raise ToolDefinitionError(f"tool {name!r}: cannot resolve type hints ({exc})") from exc
    params = [p for p in hints if p != "return"]
    if len(params) != 2:
        raise ToolDefinitionError(f"tool {name!r}: the handler takes (call: ToolCall, args: InputModel)")
    input_model, output_model = hints[params[1]], hints.get("return")
    for role, model in (("argument", input_model), ("return", output_model)):
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            raise ToolDefinitionError(f"tool {name!r}: the {role} type must be a pydantic model")
    return input_model, output_model


ResourceReader = Callable[[ToolCall, Mapping[str, str]], Awaitable[BaseModel]]


@dataclass(frozen=True, slots=True)
class ResourceTemplate:
    """Read-only data exposed as MCP resources, e.g. ``orders://{order_id}``."""

    uri_template: str
    name: str
    title: str
    description: str
    scopes: frozenset[str]
    reader: ResourceReader
    mime_type: str = "application/json"
    target: Target | None = None
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = re.split(r"\{([a-z_][a-z0-9_]*)\}", self.uri_template)
        regex = "".join(
            f"(?P<{part}>[A-Za-z0-9_-]{{1,64}})" if i % 2 else re.escape(part) for i, part in enumerate(parts)
        )
        object.__setattr__(self, "_pattern", re.compile(f"^{regex}$"))

    def match(self, uri: str) -> dict[str, str] | None:
        """The template's parameters when ``uri`` is one of its resources."""
        found = self._pattern.match(uri)
        return found.groupdict() if found else None


def resource(
    *,
    uri_template: str,
    name: str,
    title: str,
    description: str,
    scopes: tuple[str, ...],
    target: Target | None = None,
) -> Callable[[ResourceReader], ResourceTemplate]:
    """Declare a resource template read by ``reader(call, params)``; ``target`` describes it to the access policy."""

    def register(reader: ResourceReader) -> ResourceTemplate:
        check_description(name, description)
        if not scopes or not all(_SCOPE.fullmatch(s) for s in scopes):
            raise ToolDefinitionError(f"resource {name!r}: declare at least one well-formed scope")
        return ResourceTemplate(
            uri_template=uri_template,
            name=name,
            title=title,
            description=description.strip(),
            scopes=frozenset(scopes),
            reader=reader,
            target=target,
        )

    return register


@dataclass(frozen=True)
class Toolset:
    """What a tools module contributes: tools, resource templates, and instructions for the agent."""

    tools: tuple[Tool[Any, Any], ...]
    resources: tuple[ResourceTemplate, ...] = ()
    instructions: str | None = None
    dev_users: tuple[DevUser, ...] = ()
    on_start: Callable[[], Awaitable[None]] | None = None
    scope_descriptions: Mapping[str, str] = field(default_factory=dict)
    routes: tuple[BaseRoute, ...] = ()  # companion HTTP routes (the demo's downstream API), mounted by the app
    policy_directory: Path | None = None  # the toolset's own Cedar policies, used unless [policy] directory is set

    def __post_init__(self) -> None:
        names = [t.name for t in self.tools]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ToolDefinitionError(f"duplicate tool names: {sorted(duplicates)}")

    def find(self, name: str) -> Tool[Any, Any] | None:
        return next((t for t in self.tools if t.name == name), None)

    def scopes(self) -> frozenset[str]:
        """Every scope any tool or resource needs."""
        return frozenset().union(*(t.scopes for t in self.tools), *(r.scopes for r in self.resources))

    def baseline_scopes(self) -> frozenset[str]:
        """The read-only tools' and resources' scopes: what a client gets first; destructive ones need step-up."""
        read_only = [t for t in self.tools if t.annotations.read_only_hint]
        return frozenset().union(*(t.scopes for t in read_only), *(r.scopes for r in self.resources))


@dataclass(frozen=True, slots=True)
class DevUser:
    """A user a toolset wants to exist in ``--dev`` (never otherwise): the demo's sign-in accounts."""

    username: str
    password: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ToolsetContext:
    """What a toolset factory gets to build its tools: the database, the clock, and whether this is --dev.

    ``reader`` runs short reads on that database without aiosqlite's thread hops (the server disposes it).
    """

    engine: AsyncEngine
    reader: Reader
    clock: Clock
    dev: bool
    base_url: str = ""
    issuer: str = ""


ToolsetFactory = Callable[[ToolsetContext], "Toolset"]
"""Builds a toolset without I/O; the toolset's ``on_start`` runs at server start (create tables, seed, ...)."""
