"""The policy seam: who may call which tool or read which resource, decided outside the tool code.

The guard asks a :class:`PolicyEngine` after authentication and scope checks; the engine sees the
user's roles, the client's trust level and the call's arguments, and answers allow or deny with the
ids of the policies that decided. Engines fail closed: no permit, or any doubt, is a deny.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from drawbridge.errors import DrawbridgeError

Action = Literal["call_tool", "read_resource", "list", "unmask"]

ProblemKind = Literal["syntax", "validation", "unknown_tool", "unknown_kind", "duplicate_id", "unreadable", "empty"]


@dataclass(frozen=True, slots=True)
class Principal:
    """The user a request acts for."""

    user_id: str
    roles: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    username: str | None = None


@dataclass(frozen=True, slots=True)
class ClientInfo:
    """The OAuth client making the request.

    ``verified`` is True for clients identified by a Client ID Metadata Document (CIMD), whose
    identity is an HTTPS URL the server fetched; False for dynamically registered (DCR) clients,
    which anyone can create and which therefore prove nothing about who wrote them.
    """

    client_id: str
    verified: bool


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """One authorization question: may ``principal``, through ``client``, do ``action`` on ``resource``?

    Args:
        resource: a tool name for ``call_tool``; a resource URI for ``read_resource``; a tool name or a resource
            template's URI template for ``list``; a data kind (``email``) for ``unmask``.
        attributes: the tool's arguments and its target's attributes (``call_tool``) or the resource's target
            attributes (``read_resource``), e.g. ``{"order_id": 42, "order_total_pence": 1200}``.
        template: the resource template's name, for ``read_resource`` and for ``list`` of a template.
    """

    principal: Principal
    client: ClientInfo
    action: Action
    resource: str
    attributes: Mapping[str, Any] = field(default_factory=dict)
    template: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    """An engine's answer.

    Args:
        policy_ids: the policies that decided: the permits that allowed, or the forbids that denied
            (empty for a default deny). A policy's ``@id`` annotation, else ``file:line``.
        errors: why the engine could not evaluate cleanly; any error makes the decision a deny.
    """

    allowed: bool
    policy_ids: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


class PolicyEngine(Protocol):
    """Decides policy requests; implementations are passed to the guard through its constructor."""

    def decide(self, request: PolicyRequest) -> Decision:
        """Allow or deny ``request``; never raises for a well-formed request (errors deny)."""
        ...

    def unmasked(self, principal: Principal, client: ClientInfo) -> frozenset[str]:
        """The data kinds ``principal`` may see in clear through ``client`` (``unmask`` permitted)."""
        ...


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One thing wrong with a policy file, located for the operator who has to fix it."""

    file: str
    line: int
    kind: ProblemKind
    detail: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.kind}: {self.detail}"


class PolicyError(DrawbridgeError):
    """The policies could not be loaded: unreadable, malformed, or inconsistent with the toolset's schema."""

    def __init__(self, problems: tuple[PolicyProblem, ...]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))
