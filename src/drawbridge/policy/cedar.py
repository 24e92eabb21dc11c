"""Cedar policies from a directory of ``*.cedar`` files, validated against the toolset's schema.

Threat model: policies are the last word on who may refund whom, so the engine fails closed. There is
no permit without a matching ``permit``; a ``forbid`` always wins; a policy that cannot be evaluated
(Cedar skips it, which would silently disable a ``forbid``) turns the whole decision into a deny; a
request whose arguments do not fit the schema is denied before Cedar sees it. A policy that names a
tool, action or attribute the toolset does not have is refused at load time with its file and line, and
a broken edit picked up by hot reload leaves the previous, validated policies serving.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Collection, Hashable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cedarpy
import structlog

from drawbridge.clock import Clock
from drawbridge.policy.engine import ClientInfo, Decision, PolicyError, PolicyProblem, PolicyRequest, Principal
from drawbridge.policy.schema import (
    RESERVED_CONTEXT,
    CedarType,
    ToolsetInfo,
    argument_types,
    build_schema,
    resource_attribute_types,
    tool_attributes,
)

log = structlog.get_logger(__name__)

# A comment, a string (possibly unterminated), a statement end, or a run of anything else.
_TOKEN = re.compile(r'//[^\n]*|"(?:[^"\\]|\\.)*"?|;|[^\s";/]+|/', re.DOTALL)
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_DECISION_CACHE = 16_384  # entries per generation of policies; cleared whole when full

Fingerprint = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Source:
    """Where one policy came from, and what audit logs call it."""

    file: str
    line: int
    text: str
    policy_id: str  # the @id annotation, else file:line


@dataclass(frozen=True, slots=True)
class _Loaded:
    """One validated generation of policies; swapped whole on reload so readers never see a mix."""

    policies: cedarpy.PolicySet
    sources: tuple[_Source, ...]  # index i is Cedar's positional "policy{i}"
    fingerprint: Fingerprint
    loaded_at: float
    unmasked: dict[tuple[Principal, ClientInfo], frozenset[str]] = field(default_factory=dict, compare=False)
    decisions: dict[Hashable, Decision] = field(default_factory=dict, compare=False)


class CedarPolicyEngine:
    """A :class:`~drawbridge.policy.engine.PolicyEngine` backed by Cedar policy files."""

    def __init__(
        self,
        directory: Path,
        toolset: ToolsetInfo,
        *,
        clock: Clock,
        resource_attributes: Mapping[str, CedarType] | None = None,
        data_kinds: Collection[str] = (),
    ) -> None:
        """Prefer :meth:`load`, which validates before returning."""
        self._directory = directory
        self._toolset = toolset
        self._clock = clock
        self._resource_attributes = {**resource_attribute_types(toolset), **(resource_attributes or {})}
        self._data_kinds = tuple(data_kinds)
        self._tool_names = frozenset(t.name for t in toolset.tools)
        self._arguments = argument_types(toolset)
        self._schema = cedarpy.Schema.from_json_str(json.dumps(build_schema(toolset, self._resource_attributes)))
        self._base = _tool_entities(toolset)
        # Parsing the per-request entities costs about as much as half a decision; a tool call's depend
        # only on who is calling through which client, so repeat callers reuse them.
        self._caller_entities = functools.lru_cache(maxsize=1024)(self._build_caller_entities)
        self._state = self._read()
        self._failed: Fingerprint | None = None

    @classmethod
    def load(
        cls,
        directory: Path,
        toolset: ToolsetInfo,
        *,
        clock: Clock,
        resource_attributes: Mapping[str, CedarType] | None = None,
        data_kinds: Collection[str] = (),
    ) -> CedarPolicyEngine:
        """Read and validate every ``*.cedar`` file in ``directory``.

        Args:
            resource_attributes: attributes ``read_resource`` requests carry, by Cedar type, besides those the
                toolset's resource targets declare.
            data_kinds: the personal-data kinds ``unmask`` may name (``DataKind::"email"``); a policy naming
                another is refused, so a typo cannot silently unmask nothing (or, worse, be "fixed" later).

        Raises:
            PolicyError: a file is unreadable or malformed, or a policy names an unknown tool, action or
                attribute; ``problems`` locates each by file and line.
        """
        return cls(directory, toolset, clock=clock, resource_attributes=resource_attributes, data_kinds=data_kinds)

    @property
    def loaded_at(self) -> float:
        """When the serving policies were read."""
        return self._state.loaded_at

    def decide(self, request: PolicyRequest) -> Decision:
        """Allow only if a permit matches, no forbid does, and nothing failed to evaluate.

        A decision is a pure function of the serving policies and the request (principal, client, action, resource,
        attributes: the schema has no clock or other outside input), so identical requests are answered from a
        bounded cache that belongs to one generation of policies and goes with it on reload.
        """
        state = self._state
        key = _cache_key(request)
        if key is not None and (cached := state.decisions.get(key)) is not None:
            return cached
        decision = self._decide(state, request)
        if key is not None:
            if len(state.decisions) >= _DECISION_CACHE:
                state.decisions.clear()
            state.decisions[key] = decision
        return decision

    def _decide(self, state: _Loaded, request: PolicyRequest) -> Decision:
        result, errors = self._evaluate(state, request)
        if result is None:
            return Decision(allowed=False, errors=errors)
        reasons = tuple(_source(state, r).policy_id for r in result.diagnostics.reasons)
        errors = tuple(result.diagnostics.errors)
        return Decision(allowed=result.allowed and not errors, policy_ids=reasons, errors=errors)

    def unmasked(self, principal: Principal, client: ClientInfo) -> frozenset[str]:
        """The data kinds permitted ``unmask``; cached per caller for the serving policies' lifetime."""
        state = self._state
        key = (principal, client)
        found = state.unmasked.get(key)
        if found is None:
            found = frozenset(
                kind
                for kind in self._data_kinds
                if self.decide(PolicyRequest(principal, client, "unmask", kind)).allowed
            )
            if len(state.unmasked) >= 4096:
                state.unmasked.clear()
            state.unmasked[key] = found
        return found

    def explain(self, request: PolicyRequest) -> str:
        """One paragraph for a human: the decision, and which policies (in which files) made it."""
        state = self._state
        result, errors = self._evaluate(state, request)
        subject = (
            f"User {request.principal.username or request.principal.user_id!r} "
            f"(roles: {', '.join(sorted(request.principal.roles)) or 'none'}) "
            f"using {'verified' if request.client.verified else 'unverified'} client {request.client.client_id!r} "
            f"to {request.action} {request.resource!r}"
        )
        if result is None:
            return f"Denied: {subject}. The request was not evaluated: {'; '.join(errors)}."
        sources = [_source(state, r) for r in result.diagnostics.reasons]
        cited = ", ".join(f"{s.policy_id!r} ({s.file}:{s.line})" for s in sources)
        if result.diagnostics.errors:
            return f"Denied: {subject}. Policies failed to evaluate: {'; '.join(result.diagnostics.errors)}."
        if result.allowed:
            return f"Allowed: {subject}, permitted by {cited}."
        if sources:
            return f"Denied: {subject}, forbidden by {cited}."
        return f"Denied by default: {subject}; no policy permits it."

    def reload_if_changed(self) -> bool:
        """Re-read the directory if any policy file was added, removed or modified.

        Returns True if new policies now serve. A failing edit keeps the previous policies serving,
        logs the problem locations (never policy text or request data) once, and returns False.
        """
        current = _fingerprint(self._directory)
        if current in (self._state.fingerprint, self._failed):
            return False
        try:
            self._state = self._read()
        except PolicyError as exc:
            self._failed = current
            log.warning("policy_reload_rejected", problems=[f"{p.file}:{p.line}:{p.kind}" for p in exc.problems])
            return False
        self._failed = None
        log.info("policy_reloaded", policies=len(self._state.sources))
        return True

    def _read(self) -> _Loaded:
        fingerprint = _fingerprint(self._directory)
        sources, problems = self._parse_files()
        if not problems:
            problems = self._validate(sources)
        if problems:
            raise PolicyError(tuple(problems))
        policies = cedarpy.PolicySet.from_str("\n".join(s.text for s in sources))
        return _Loaded(policies, tuple(sources), fingerprint, self._clock.now())

    def _parse_files(self) -> tuple[list[_Source], list[PolicyProblem]]:
        sources: list[_Source] = []
        problems: list[PolicyProblem] = []
        paths = sorted(self._directory.glob("*.cedar"))
        if not paths:
            problems.append(PolicyProblem(str(self._directory), 0, "empty", "no *.cedar policy files"))
        for path in paths:
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                problems.append(PolicyProblem(str(path), 0, "unreadable", type(exc).__name__))
                continue
            for line, statement in _statements(text):
                source, problem = self._parse_one(str(path), line, statement)
                sources.extend([source] if source else [])
                problems.extend([problem] if problem else [])
        return sources, problems

    def _parse_one(self, file: str, line: int, text: str) -> tuple[_Source | None, PolicyProblem | None]:
        try:
            est = json.loads(cedarpy.policies_to_json_str(text))
        except ValueError as exc:
            return None, PolicyProblem(file, line, "syntax", str(exc))
        policies = list(est["staticPolicies"].values()) + list(est["templates"].values())
        unknown = sorted({uid for uid in _uids(policies, "Tool") if uid not in self._tool_names})
        if unknown:
            return None, PolicyProblem(file, line, "unknown_tool", f"no tool named {', '.join(unknown)}")
        kinds = sorted({uid for uid in _uids(policies, "DataKind") if uid not in self._data_kinds})
        if kinds:
            known = ", ".join(self._data_kinds) or "none"
            return None, PolicyProblem(file, line, "unknown_kind", f"no data kind {', '.join(kinds)} (known: {known})")
        annotations = policies[0].get("annotations", {}) if policies else {}
        return _Source(file, line, text, annotations.get("id") or f"{file}:{line}"), None

    def _validate(self, sources: list[_Source]) -> list[PolicyProblem]:
        result = cedarpy.validate_policies("\n".join(s.text for s in sources), self._schema)
        problems = []
        for error in result.errors:
            where = _source_or_none(sources, error.policy_id)
            file, line = (where.file, where.line) if where else (str(self._directory), 0)
            problems.append(PolicyProblem(file, line, "validation", error.error))
        seen: dict[str, _Source] = {}
        for source in sources:
            first = seen.setdefault(source.policy_id, source)
            if first is not source:
                detail = f"@id {source.policy_id!r} also at {first.file}:{first.line}"
                problems.append(PolicyProblem(source.file, source.line, "duplicate_id", detail))
        return problems

    def _evaluate(self, state: _Loaded, request: PolicyRequest) -> tuple[cedarpy.AuthzResult | None, tuple[str, ...]]:
        if request.action == "call_tool" and request.resource not in self._tool_names:
            return None, (f"unknown tool {request.resource!r}",)
        context, errors = self._context(request)
        if errors:
            return None, errors
        try:
            resource, entities = self._entities(request)
        except ValueError as exc:
            return None, (f"request entities rejected: {exc}",)
        cedar_request = {
            "principal": {"type": "User", "id": request.principal.user_id},
            "action": {"type": "Action", "id": request.action},
            "resource": resource,
            "context": context,
        }
        return cedarpy.is_authorized(cedar_request, state.policies, entities), ()

    def _entities(self, request: PolicyRequest) -> tuple[dict[str, str], cedarpy.Entities]:
        if request.action == "unmask":
            return {"type": "DataKind", "id": request.resource}, self._caller_entities(
                request.principal, request.client
            )
        if request.action != "read_resource" and request.resource in self._tool_names:
            return {"type": "Tool", "id": request.resource}, self._caller_entities(request.principal, request.client)
        resource = {"type": "Resource", "id": request.resource}
        attrs: dict[str, Any] = {
            name: value
            for name, value in request.attributes.items()
            if name in self._resource_attributes and _fits(self._resource_attributes[name], value)
        }
        attrs["template"] = request.template
        delta = [*_caller(request.principal, request.client), {"uid": resource, "attrs": attrs, "parents": []}]
        return resource, self._base.with_added_json_str(json.dumps(delta))

    def _build_caller_entities(self, principal: Principal, client: ClientInfo) -> cedarpy.Entities:
        return self._base.with_added_json_str(json.dumps(_caller(principal, client)))

    def _context(self, request: PolicyRequest) -> tuple[dict[str, Any], tuple[str, ...]]:
        context: dict[str, Any] = {RESERVED_CONTEXT: {"__entity": {"type": "Client", "id": request.client.client_id}}}
        if request.action == "call_tool":
            types = self._arguments
        elif request.action == "read_resource":
            types = self._resource_attributes
        else:
            return context, ()
        errors = []
        for name, value in request.attributes.items():
            kind = types.get(name)
            if kind is None:
                continue  # not addressable by any policy (the schema has no such attribute)
            if not _fits(kind, value):
                errors.append(f"argument {name!r} is not a Cedar {kind}")
            context[name] = value
        return context, tuple(errors)


def _cache_key(request: PolicyRequest) -> Hashable | None:
    """The request as a dict key, or None when an attribute value is not hashable (then it is not cached)."""
    try:
        # The type is part of the key: 1 == True in Python, but a Long and a Boolean are different to Cedar.
        attributes = frozenset((name, type(value), value) for name, value in request.attributes.items())
        key = (request.principal, request.client, request.action, request.resource, request.template, attributes)
        hash(key)
    except TypeError:
        return None
    return key


def _caller(principal: Principal, client: ClientInfo) -> list[dict[str, Any]]:
    attrs: dict[str, Any] = {"roles": sorted(principal.roles), "groups": sorted(principal.groups)}
    if principal.username is not None:
        attrs["username"] = principal.username
    user = {
        "uid": {"type": "User", "id": principal.user_id},
        "attrs": attrs,
        "parents": [{"type": "Role", "id": role} for role in sorted(principal.roles)],
    }
    entity = {
        "uid": {"type": "Client", "id": client.client_id},
        "attrs": {"verified": client.verified},
        "parents": [],  # cedarpy rejects an entity without the key
    }
    return [user, entity]


def _fits(kind: CedarType, value: Any) -> bool:
    if kind == "Boolean":
        return isinstance(value, bool)
    if kind == "String":
        return isinstance(value, str)
    return isinstance(value, int) and not isinstance(value, bool) and _LONG_MIN <= value <= _LONG_MAX


def _tool_entities(toolset: ToolsetInfo) -> cedarpy.Entities:
    tools = [{"uid": {"type": "Tool", "id": t.name}, "attrs": tool_attributes(t), "parents": []} for t in toolset.tools]
    return cedarpy.Entities.from_json_str(json.dumps(tools))


def _statements(text: str) -> Iterator[tuple[int, str]]:
    """Split policy text into statements, each with its 1-based first line (annotations included).

    Cedar reports parse errors without positions and validation errors by positional policy id, so
    parsing one statement at a time is what lets an error name its file and line.
    """
    start: int | None = None
    for token in _TOKEN.finditer(text):
        if token.group().startswith("//"):
            continue
        if start is None:
            start = token.start()
        if token.group() == ";":
            yield text.count("\n", 0, start) + 1, text[start : token.end()]
            start = None
    if start is not None:
        yield text.count("\n", 0, start) + 1, text[start:]


def _uids(node: Any, entity_type: str) -> Iterator[str]:
    """Every ``<entity_type>::"…"`` entity a policy's JSON form mentions, wherever it appears."""
    if isinstance(node, dict):
        if node.get("type") == entity_type and isinstance(node.get("id"), str):
            yield node["id"]
        for value in node.values():
            yield from _uids(value, entity_type)
    elif isinstance(node, list):
        for item in node:
            yield from _uids(item, entity_type)


def _fingerprint(directory: Path) -> Fingerprint:
    """Each policy file's name and content digest: an edit is seen even when size and mtime do not change."""
    entries = []
    for path in sorted(directory.glob("*.cedar")):
        try:
            content = path.read_bytes()
        except OSError:
            continue
        entries.append((path.name, hashlib.sha256(content).hexdigest()))
    return tuple(entries)


def _source_or_none(sources: list[_Source] | tuple[_Source, ...], policy_id: str) -> _Source | None:
    index = policy_id.removeprefix("policy")
    return sources[int(index)] if index.isdigit() and int(index) < len(sources) else None


def _source(state: _Loaded, policy_id: str) -> _Source:
    found = _source_or_none(state.sources, policy_id)
    return found or _Source("?", 0, "", policy_id)
