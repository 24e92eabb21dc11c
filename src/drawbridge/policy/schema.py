"""The Cedar schema for a toolset: what policies may name, so typos fail at load time, not at 3 a.m.

Entity types:

- ``User`` (``roles``, ``groups``: sets of strings; ``username``, optional), a member of ``Role`` entities, so
  policies say ``principal in Role::"support"``.
- ``Client`` (``verified``: CIMD-identified or not), reached through ``context.client``.
- ``Tool`` (``read_only``, ``destructive``), from the tool's annotations.
- ``Resource`` (a resource URI, or a template for ``list``): ``template`` (the resource template's name) and the
  optional attributes its target loader describes (e.g. the order's ``owner``).
- ``DataKind`` (``email``, ``ni_number``, ...): the kinds of personal data masking detects; ``unmask`` on one lets
  the principal see that kind in clear.

Context typing. Cedar has no "any" type and no maps, so a call's arguments and the attributes of what it touches
(its *target*, loaded before the decision: "refund order 42" says nothing about what order 42 is worth) are
declared as one record holding the union of every tool's scalar input fields and target attributes (integer ->
``Long``, string -> ``String``, boolean -> ``Boolean``), each *optional*. Optional means the validator insists on
``context has amount_pence && context.amount_pence <= 50000``: a policy cannot silently read an attribute another
tool lacks, and a target that could not be loaded (an unknown order) fails such a condition: deny. Fields of
other JSON types, names whose type differs between tools, and ``client`` (reserved for the client entity) are
left out: policies cannot name them, and validation reports any policy that tries. One record for all tools
(rather than an action per tool) keeps the action set closed at ``call_tool``/``read_resource``/``list``/``unmask``.
``read_resource``'s context carries the resource targets' attributes the same way (and the ``Resource`` entity
has them too).
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


class TargetInfo(Protocol):
    @property
    def types(self) -> Mapping[str, CedarType]: ...


class ToolInfo(Protocol):
    """What the schema needs from a tool (``drawbridge.tools.Tool`` satisfies it)."""

    @property
    def name(self) -> str: ...
    @property
    def annotations(self) -> _Annotations: ...
    @property
    def target(self) -> TargetInfo | None: ...
    def input_schema(self) -> dict[str, Any]: ...


class ResourceInfo(Protocol):
    """What the schema needs from a resource template (``drawbridge.tools.ResourceTemplate`` satisfies it)."""

    @property
    def name(self) -> str: ...
    @property
    def uri_template(self) -> str: ...
    @property
    def target(self) -> TargetInfo | None: ...


class ToolsetInfo(Protocol):
    """What the schema needs from a toolset (``drawbridge.tools.Toolset`` satisfies it).

    A structural type rather than an import: the layer contract keeps ``drawbridge.policy`` and
    ``drawbridge.tools`` independent siblings.
    """

    @property
    def tools(self) -> Sequence[ToolInfo]: ...
    @property
    def resources(self) -> Sequence[ResourceInfo]: ...


def argument_types(toolset: ToolsetInfo) -> dict[str, CedarType]:
    """Every tool argument and target attribute policies may read as ``context.<name>``, with its Cedar type."""
    fields: list[tuple[str, CedarType | None]] = []
    for tool in toolset.tools:
        for name, spec in tool.input_schema().get("properties", {}).items():
            fields.append((name, _JSON_TO_CEDAR.get(spec.get("type", ""))))
        fields.extend(tool.target.types.items() if tool.target else ())
    return _unambiguous(fields, reserved={RESERVED_CONTEXT})


def resource_attribute_types(toolset: ToolsetInfo) -> dict[str, CedarType]:
    """Every resource target attribute, with its Cedar type: ``context.<name>`` and ``resource.<name>`` on reads."""
    pairs = [pair for r in toolset.resources if r.target for pair in r.target.types.items()]
    return _unambiguous(pairs, reserved={RESERVED_CONTEXT, "template"})


def _unambiguous(fields: Sequence[tuple[str, CedarType | None]], *, reserved: set[str]) -> dict[str, CedarType]:
    found: dict[str, CedarType] = {}
    conflicting = set(reserved)
    for name, cedar in fields:
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
        resource_attributes: attributes of ``Resource`` entities besides those the toolset's resource targets
            declare (``{"customer_id": "String"}``), which ``PolicyRequest.attributes`` supplies on ``read_resource``.
    """
    client = {RESERVED_CONTEXT: {"type": "Entity", "name": "Client"}}
    call_context = {**{name: _optional(kind) for name, kind in argument_types(toolset).items()}, **client}
    resources = {**resource_attribute_types(toolset), **(resource_attributes or {})}
    read_context = {**{name: _optional(kind) for name, kind in resources.items()}, **client}
    strings = {"type": "Set", "element": {"type": "String"}}
    entity_types = {
        "Role": {},
        "User": {
            "memberOfTypes": ["Role"],
            "shape": _record({"roles": strings, "groups": strings, "username": _optional("String")}),
        },
        "Client": {"shape": _record({"verified": {"type": "Boolean"}})},
        "Tool": {"shape": _record({"read_only": {"type": "Boolean"}, "destructive": {"type": "Boolean"}})},
        "Resource": {
            "shape": _record({"template": {"type": "String"}, **{n: _optional(k) for n, k in resources.items()}})
        },
        "DataKind": {},
    }
    actions = {
        "call_tool": _applies(["Tool"], _record(call_context)),
        "read_resource": _applies(["Resource"], _record(read_context)),
        "list": _applies(["Tool", "Resource"], _record(client)),
        "unmask": _applies(["DataKind"], _record(client)),
    }
    return {"": {"entityTypes": entity_types, "actions": actions}}


def _record(attributes: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "Record", "attributes": dict(attributes)}


def _optional(kind: CedarType) -> dict[str, Any]:
    return {"type": kind, "required": False}


def _applies(resource_types: list[str], context: dict[str, Any]) -> dict[str, Any]:
    return {"appliesTo": {"principalTypes": ["User"], "resourceTypes": resource_types, "context": context}}
