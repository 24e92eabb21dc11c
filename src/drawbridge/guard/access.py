"""Asking the access policy about a caller: the guard's side of the policy seam.

The engine knows users, clients and attributes; the guard knows callers, tools and resource templates. This module
translates one into the other and loads the target attributes (what a call touches) that policies decide on.
Everything here fails closed: a target loader that raises is logged and treated as "nothing known", which any
policy that needs the attribute turns into a deny.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog
from pydantic import BaseModel

from drawbridge.policy import ClientInfo, Decision, PolicyEngine, PolicyRequest, Principal
from drawbridge.tools import Caller, ResourceTemplate, Target, Tool

log = structlog.get_logger(__name__)

DENIED_CALL = (
    "not permitted: the access policy does not allow you to make this call; ask an administrator if you need it"
)
UNAVAILABLE_RESOURCE = "resource not available: it does not exist or the access policy does not permit you to read it"


def verified_client_id(client_id: str) -> bool:
    """Whether a client_id names a verified client: only a Client ID Metadata Document makes it an https URL.

    DCR ids are random hex strings and static clients never hold user tokens; the authorization server fetched the
    document before issuing any token to an https client_id, so the id's shape is proof enough.
    """
    return client_id.startswith("https://")


def principal_of(caller: Caller) -> Principal:
    return Principal(
        user_id=caller.subject, roles=frozenset(caller.roles), groups=frozenset(caller.groups), username=caller.username
    )


def client_of(caller: Caller) -> ClientInfo:
    return ClientInfo(client_id=caller.client_id, verified=caller.client_verified)


class AccessPolicy:
    """The decisions the guard needs, each a single call into the engine."""

    def __init__(self, engine: PolicyEngine) -> None:
        self._engine = engine

    def may_list_tool(self, caller: Caller, tool: Tool[Any, Any]) -> bool:
        return self._decide(caller, "list", tool.name).allowed

    def may_list_template(self, caller: Caller, template: ResourceTemplate) -> bool:
        request = PolicyRequest(
            principal_of(caller), client_of(caller), "list", template.uri_template, template=template.name
        )
        return self._engine.decide(request).allowed

    async def call(self, caller: Caller, tool: Tool[Any, Any], args: BaseModel) -> Decision:
        """The decision on calling ``tool`` with validated ``args``, its target loaded first."""
        return self._engine.decide(await call_request(caller, tool, args))

    async def read(self, caller: Caller, template: ResourceTemplate, uri: str, values: Mapping[str, str]) -> Decision:
        return self._engine.decide(await read_request(caller, template, uri, values))

    def unmasked(self, caller: Caller) -> frozenset[str]:
        return self._engine.unmasked(principal_of(caller), client_of(caller))

    def _decide(
        self, caller: Caller, action: Any, resource: str, attributes: Mapping[str, Any] | None = None
    ) -> Decision:
        return self._engine.decide(
            PolicyRequest(principal_of(caller), client_of(caller), action, resource, attributes or {})
        )


async def call_request(caller: Caller, tool: Tool[Any, Any], args: BaseModel) -> PolicyRequest:
    """The question a call asks: the validated arguments plus what its target loader says about what it touches."""
    arguments = args.model_dump(mode="json")
    attributes = {**arguments, **await _load(tool.target, arguments, tool.name)}
    return PolicyRequest(principal_of(caller), client_of(caller), "call_tool", tool.name, attributes)


async def read_request(
    caller: Caller, template: ResourceTemplate, uri: str, values: Mapping[str, str]
) -> PolicyRequest:
    attributes = await _load(template.target, values, template.name)
    return PolicyRequest(
        principal_of(caller), client_of(caller), "read_resource", uri, attributes, template=template.name
    )


async def _load(target: Target | None, values: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    if target is None:
        return {}
    try:
        loaded = await target.load(values)
    except Exception:
        log.exception("policy_target_failed", source=name)
        return {}
    return {key: value for key, value in (loaded or {}).items() if key in target.types}
