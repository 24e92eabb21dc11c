"""The Cedar schema for a toolset: what policies may name, so typos fail at load time, not at 3 a.m.

Entity types:

- ``User`` (``roles``, ``groups``: sets of strings), a member of ``Role`` entities, so policies say
  ``principal in Role::"support"``.
- ``Client`` (``verified``: CIMD-identified or not), reached through ``context.client``.
- ``Tool`` (``read_only``, ``destructive``), from the tool's annotations.
- ``Resource`` (a resource URI), with the optional attributes the deployment declares.

Context typing. Cedar has no "any" type and no maps, so a call's arguments are declared as a record
holding the union of every tool's scalar input fields (integer -> ``Long``, string -> ``String``,
boolean -> ``Boolean``), each *optional*. Optional means the validator insists on
``context has amount_pence && context.amount_pence <= 50000``: a policy cannot silently read an argument
another tool lacks. Fields of other JSON types, fields whose type differs between tools, and a field
named ``client`` (reserved for the client entity) are left out: policies cannot name them, and
validation reports any policy that tries. One record for all tools (rather than an action per tool)
keeps the action set closed at ``call_tool``/``read_resource``/``list``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

CedarType = Literal["String", "Long", "Boolean"]

_JSON_TO_CEDAR: dict[str, CedarType] = {"integer": "Long", "string": "String", "boolean": "Boolean"}
RESERVED_CONTEXT = "client"


class _Annotations(Protocol):
    @property
    def read_only_hint(self) -> bool | None: ...
    @property
    def destructive_hint(self) -> bool | None: ...


class ToolInfo(Protocol):
    """What the schema needs from a tool (``drawbridge.tools.Tool`` satisfies it)."""

    @property
    def name(self) -> str: ...
    @property
    def annotations(self) -> _Annotations: ...
    def input_schema(self) -> dict[str, Any]: ...


class ToolsetInfo(Protocol):
    """What the schema needs from a toolset (``drawbridge.tools.Toolset`` satisfies it).

    A structural type rather than an import: the layer contract keeps ``drawbridge.policy`` and
    ``drawbridge.tools`` independent siblings.
    """

    @property
    def tools(self) -> Sequence[ToolInfo]: ...


def argument_types(toolset: ToolsetInfo) -> dict[str, CedarType]:
    """Every tool argument policies may read as ``context.<name>``, with its Cedar type."""
    found: dict[str, CedarType] = {}
    conflicting: set[str] = {RESERVED_CONTEXT}
    for tool in toolset.tools:
        for name, spec in tool.input_schema().get("properties", {}).items():
            cedar = _JSON_TO_CEDAR.get(spec.get("type", ""))
            if cedar is None or found.get(name, cedar) != cedar:
                conflicting.add(name)
            else:
                found[name] = cedar
    return {name: kind for name, kind in found.items() if name not in conflicting}


def tool_attributes(tool: ToolInfo) -> dict[str, bool]:
    """A tool entity's attributes; a missing hint is taken as the unsafe value (MCP's defaults)."""
    read_only = tool.annotations.read_only_hint
    destructive = tool.annotations.destructive_hint
    return {"read_only": bool(read_only), "destructive": destructive is not False}


def build_schema(toolset: ToolsetInfo, resource_attributes: Mapping[str, CedarType] | None = None) -> dict[str, Any]:
    """The Cedar JSON schema for ``toolset``.

    Args:
        resource_attributes: optional attributes of ``Resource`` entities (``{"customer_id": "String"}``),
            which ``PolicyRequest.attributes`` supplies on ``read_resource``.
    """
    args = argument_types(toolset)
    context_attrs: dict[str, Any] = {name: _optional(kind) for name, kind in args.items()}
    context_attrs[RESERVED_CONTEXT] = {"type": "Entity", "name": "Client"}
    plain_context = {"type": "Record", "attributes": {RESERVED_CONTEXT: {"type": "Entity", "name": "Client"}}}
    strings = {"type": "Set", "element": {"type": "String"}}
    entity_types = {
        "Role": {},
        "User": {"memberOfTypes": ["Role"], "shape": _record({"roles": strings, "groups": strings})},
        "Client": {"shape": _record({"verified": {"type": "Boolean"}})},
        "Tool": {"shape": _record({"read_only": {"type": "Boolean"}, "destructive": {"type": "Boolean"}})},
        "Resource": {"shape": _record({n: _optional(k) for n, k in (resource_attributes or {}).items()})},
    }
    actions = {
        "call_tool": _applies(["Tool"], {"type": "Record", "attributes": context_attrs}),
        "read_resource": _applies(["Resource"], plain_context),
        "list": _applies(["Tool", "Resource"], plain_context),
    }
    return {"": {"entityTypes": entity_types, "actions": actions}}


def _record(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "Record", "attributes": dict(attributes)}


def _optional(kind: CedarType) -> dict[str, Any]:
    return {"type": kind, "required": False}


def _applies(resource_types: list[str], context: dict[str, Any]) -> dict[str, Any]:
    return {"appliesTo": {"principalTypes": ["User"], "resourceTypes": resource_types, "context": context}}
