"""Cedar policies: the demo's decision table, load-time validation with file and line, hot reload, explain."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field

from drawbridge.policy import (
    CedarPolicyEngine,
    ClientInfo,
    Decision,
    PolicyError,
    PolicyRequest,
    Principal,
    build_schema,
)
from drawbridge.testing import FrozenClock
from drawbridge.tools import ToolCall, Toolset, tool


class OrderInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(max_length=20, description="The order to look at, e.g. o-1001.")


class CustomerInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str = Field(max_length=20, description="The customer whose orders to summarise.")


class RefundInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(max_length=20, description="The order to refund, e.g. o-1001.")
    amount_pence: int = Field(ge=1, le=10_000_000, description="How much to refund, in pence.")


class Summary(BaseModel):
    text: str


def _tool(name: str, model: type[BaseModel], *, read_only: bool) -> Any:
    async def handler(call: ToolCall, args: BaseModel) -> Summary:
        return Summary(text=name)

    handler.__annotations__ = {"call": ToolCall, "args": model, "return": Summary}
    return tool(
        name=name,
        title=name.replace("_", " ").capitalize(),
        description=f"Test tool {name}. Use it in policy tests only; it returns its own name and does nothing else.",
        scopes=("orders:read",) if read_only else ("orders:refund",),
        read_only=read_only,
        destructive=not read_only,
        idempotent=read_only,
        open_world=False,
    )(handler)


TOOLSET = Toolset(
    tools=(
        _tool("check_order_status", OrderInput, read_only=True),
        _tool("summarise_customer_orders", CustomerInput, read_only=True),
        _tool("request_refund", RefundInput, read_only=False),
        _tool("cancel_order", OrderInput, read_only=False),  # new: no policy mentions it
    )
)

SUPPORT = """\
// Support staff look orders up; they never move money.
@id("support-reads-orders")
permit (
  principal in Role::"support",
  action == Action::"call_tool",
  resource
) when { resource in [Tool::"check_order_status", Tool::"summarise_customer_orders"] };

@id("support-reads-resources")
permit (principal in Role::"support", action == Action::"read_resource", resource);
"""

REFUNDS = """\
// The refund limit is policy, not code: raise it here.
@id("refunds-within-limit")
permit (principal in Role::"refunds", action == Action::"call_tool", resource == Tool::"request_refund")
when { context has amount_pence && context.amount_pence <= 50000 };
"""

CLIENTS = """\
// A dynamically registered client proves nothing about who wrote it: read-only tools only.
@id("unverified-clients-read-only")
forbid (principal, action == Action::"call_tool", resource)
when { !resource.read_only && !context.client.verified };
"""


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    (tmp_path / "support.cedar").write_text(SUPPORT)
    (tmp_path / "refunds.cedar").write_text(REFUNDS)
    (tmp_path / "clients.cedar").write_text(CLIENTS)
    return tmp_path


@pytest.fixture
def engine(policy_dir: Path) -> CedarPolicyEngine:
    return CedarPolicyEngine.load(policy_dir, TOOLSET, clock=FrozenClock())


def _request(
    roles: tuple[str, ...],
    verified: bool,
    action: Any,
    resource: str,
    attributes: dict[str, Any] | None = None,
) -> PolicyRequest:
    return PolicyRequest(
        principal=Principal(user_id="alice", roles=frozenset(roles)),
        client=ClientInfo(client_id="https://client.example/meta.json" if verified else "dcr-1", verified=verified),
        action=action,
        resource=resource,
        attributes=attributes or {},
    )


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        pytest.param(
            _request(("support",), True, "call_tool", "check_order_status", {"order_id": "o-1"}),
            Decision(True, ("support-reads-orders",)),
            id="support-checks-order",
        ),
        pytest.param(
            _request(("support",), False, "call_tool", "summarise_customer_orders", {"customer_id": "c-1"}),
            Decision(True, ("support-reads-orders",)),
            id="support-reads-via-unverified-client",
        ),
        pytest.param(
            _request(("support",), True, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": 100}),
            Decision(False),
            id="support-cannot-refund",
        ),
        pytest.param(
            _request(("refunds",), True, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": 50000}),
            Decision(True, ("refunds-within-limit",)),
            id="refund-at-limit",
        ),
        pytest.param(
            _request(("refunds",), True, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": 50001}),
            Decision(False),
            id="refund-over-limit",
        ),
        pytest.param(
            _request(("refunds",), True, "call_tool", "request_refund", {"order_id": "o-1"}),
            Decision(False),
            id="refund-without-amount",
        ),
        pytest.param(
            _request(("refunds",), False, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": 100}),
            Decision(False, ("unverified-clients-read-only",)),
            id="refund-via-unverified-client",
        ),
        pytest.param(
            _request(("refunds",), True, "call_tool", "check_order_status", {"order_id": "o-1"}),
            Decision(False),
            id="refunds-role-alone-cannot-read",
        ),
        pytest.param(
            _request(("support", "refunds"), True, "call_tool", "cancel_order", {"order_id": "o-1"}),
            Decision(False),
            id="new-tool-denied-by-default",
        ),
        pytest.param(
            _request((), True, "call_tool", "check_order_status", {"order_id": "o-1"}), Decision(False), id="no-roles"
        ),
        pytest.param(
            _request(("support",), True, "read_resource", "orders://o-1", {}),
            Decision(True, ("support-reads-resources",)),
            id="support-reads-resource",
        ),
        pytest.param(
            _request(("refunds",), True, "read_resource", "orders://o-1", {}),
            Decision(False),
            id="others-cannot-read-resource",
        ),
        pytest.param(
            _request(("support",), True, "list", "check_order_status", {}),
            Decision(False),
            id="list-not-permitted-by-demo",
        ),
    ],
)
def test_demo_policies_decide(engine: CedarPolicyEngine, request_: PolicyRequest, expected: Decision) -> None:
    assert engine.decide(request_) == expected


@pytest.mark.parametrize(
    ("action", "resource", "attributes"),
    [
        pytest.param("call_tool", "no_such_tool", {}, id="unknown-tool"),
        pytest.param("call_tool", "request_refund", {"amount_pence": "100"}, id="argument-of-wrong-type"),
        pytest.param("call_tool", "request_refund", {"amount_pence": True}, id="bool-is-not-long"),
        pytest.param("call_tool", "request_refund", {"amount_pence": 2**70}, id="long-out-of-range"),
    ],
)
def test_requests_that_do_not_fit_the_schema_are_denied(
    engine: CedarPolicyEngine, action: Any, resource: str, attributes: dict[str, Any]
) -> None:
    decision = engine.decide(_request(("refunds",), True, action, resource, attributes))
    assert not decision.allowed
    assert decision.errors


def test_arguments_no_policy_can_name_are_ignored(engine: CedarPolicyEngine) -> None:
    request = _request(("support",), True, "call_tool", "check_order_status", {"unlisted": [1, 2]})
    assert engine.decide(request).allowed


BROKEN = [
    pytest.param(
        '@id("ok")\npermit (principal, action == Action::"list", resource);\n\n'
        '@id("typo")\npermit (principal, action == Action::"call_tool", resource == Tool::"no_such_tool");\n',
        4,
        "unknown_tool",
        id="unknown-tool",
    ),
    pytest.param(
        '\n\npermit (principal, action == Action::"call_tool", resource)\nwhen { resource.owner == "x" };\n',
        3,
        "validation",
        id="unknown-entity-attribute",
    ),
    pytest.param(
        'permit (principal, action == Action::"call_tool", resource)\nwhen { context.amount == 1 };\n',
        1,
        "validation",
        id="unknown-context-attribute",
    ),
    pytest.param(
        '@id("a")\npermit (principal, action, resource);\n// "quoted; semicolon"\n'
        'permit (principal, action == Action::"delete_everything", resource);\n',
        4,
        "validation",
        id="unknown-action",
    ),
    pytest.param(
        "permit (principal, action, resource);\n\npermit (principal, action, resource) when { 1 + };\n",
        3,
        "syntax",
        id="syntax-error",
    ),
    pytest.param(
        'permit (principal, action, resource);\n@id("x;y")\npermit (principal, action, resource',
        2,
        "syntax",
        id="unterminated-last-policy",
    ),
]


@pytest.mark.parametrize(("text", "line", "kind"), BROKEN)
def test_invalid_policy_is_located_by_file_and_line(policy_dir: Path, text: str, line: int, kind: str) -> None:
    (policy_dir / "zz_broken.cedar").write_text(text)
    with pytest.raises(PolicyError) as caught:
        CedarPolicyEngine.load(policy_dir, TOOLSET, clock=FrozenClock())
    located = {(p.file, p.line, p.kind) for p in caught.value.problems}
    assert located == {(str(policy_dir / "zz_broken.cedar"), line, kind)}


def test_optional_argument_read_without_has_is_rejected(policy_dir: Path) -> None:
    (policy_dir / "refunds.cedar").write_text(REFUNDS.replace("context has amount_pence && ", ""))
    with pytest.raises(PolicyError) as caught:
        CedarPolicyEngine.load(policy_dir, TOOLSET, clock=FrozenClock())
    assert [(p.file, p.line, p.kind) for p in caught.value.problems] == [
        (str(policy_dir / "refunds.cedar"), 2, "validation")
    ]


def test_duplicate_policy_ids_are_rejected(policy_dir: Path) -> None:
    (policy_dir / "again.cedar").write_text(REFUNDS)
    with pytest.raises(PolicyError) as caught:
        CedarPolicyEngine.load(policy_dir, TOOLSET, clock=FrozenClock())
    assert [(p.file, p.kind) for p in caught.value.problems] == [(str(policy_dir / "refunds.cedar"), "duplicate_id")]


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as caught:
        CedarPolicyEngine.load(tmp_path, TOOLSET, clock=FrozenClock())
    assert [p.kind for p in caught.value.problems] == ["empty"]


def _touch(path: Path, text: str) -> None:
    """Rewrite ``path`` and move its mtime forward, so the change shows without sleeping."""
    before = path.stat().st_mtime_ns
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_reload_picks_up_a_changed_file(policy_dir: Path, engine: CedarPolicyEngine) -> None:
    refund = _request(("refunds",), True, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": 60000})
    assert not engine.decide(refund).allowed
    assert engine.reload_if_changed() is False

    _touch(policy_dir / "refunds.cedar", REFUNDS.replace("50000", "75000"))

    assert engine.reload_if_changed() is True
    assert engine.decide(refund) == Decision(True, ("refunds-within-limit",))
    assert engine.reload_if_changed() is False


def test_broken_edit_keeps_previous_policies(policy_dir: Path, engine: CedarPolicyEngine) -> None:
    check = _request(("support",), True, "call_tool", "check_order_status", {"order_id": "o-1"})
    _touch(policy_dir / "support.cedar", SUPPORT.replace('Tool::"check_order_status"', 'Tool::"check_order_stats"'))

    assert engine.reload_if_changed() is False
    assert engine.decide(check).allowed
    assert engine.reload_if_changed() is False  # the same broken edit is not retried

    _touch(policy_dir / "support.cedar", SUPPORT)
    assert engine.reload_if_changed() is False  # back to what is serving: nothing to reload
    _touch(policy_dir / "support.cedar", SUPPORT + "\n// reviewed\n")
    assert engine.reload_if_changed() is True
    assert engine.decide(check).allowed


def test_reload_notices_an_edit_that_keeps_size_and_mtime(policy_dir: Path, engine: CedarPolicyEngine) -> None:
    path = policy_dir / "support.cedar"
    before = path.stat()
    path.write_text(SUPPORT.replace('"support"', '"suppory"'))  # same length: not a role anyone has
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size

    assert engine.reload_if_changed() is True
    check = _request(("support",), True, "call_tool", "check_order_status", {"order_id": "o-1"})
    assert not engine.decide(check).allowed


def test_reload_notices_a_removed_file(policy_dir: Path, engine: CedarPolicyEngine) -> None:
    (policy_dir / "clients.cedar").unlink()
    assert engine.reload_if_changed() is True
    refund = _request(("refunds",), False, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": 1})
    assert engine.decide(refund).allowed


def test_loaded_at_comes_from_the_clock(policy_dir: Path) -> None:
    clock = FrozenClock()
    engine = CedarPolicyEngine.load(policy_dir, TOOLSET, clock=clock)
    assert engine.loaded_at == clock.now()


def test_explain_names_deciding_policies_and_files(policy_dir: Path, engine: CedarPolicyEngine) -> None:
    allowed = engine.explain(_request(("support",), True, "call_tool", "check_order_status", {"order_id": "o-1"}))
    forbidden = engine.explain(
        _request(("refunds",), False, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": 1})
    )
    default = engine.explain(_request(("support",), True, "call_tool", "cancel_order", {"order_id": "o-1"}))
    unfit = engine.explain(_request(("support",), True, "call_tool", "no_such_tool"))

    assert allowed.startswith("Allowed:")
    assert f"'support-reads-orders' ({policy_dir / 'support.cedar'}:2)" in allowed
    assert forbidden.startswith("Denied:")
    assert f"'unverified-clients-read-only' ({policy_dir / 'clients.cedar'}:2)" in forbidden
    assert default.startswith("Denied by default:")
    assert unfit.startswith("Denied:")


def test_schema_types_arguments_as_optional_context_attributes() -> None:
    schema = build_schema(TOOLSET, {"customer_id": "String"})[""]
    context = schema["actions"]["call_tool"]["appliesTo"]["context"]["attributes"]
    assert context == {
        "order_id": {"type": "String", "required": False},
        "customer_id": {"type": "String", "required": False},
        "amount_pence": {"type": "Long", "required": False},
        "client": {"type": "Entity", "name": "Client"},
    }
    assert schema["entityTypes"]["Resource"]["shape"]["attributes"] == {
        "template": {"type": "String"},
        "customer_id": {"type": "String", "required": False},
    }


def test_resource_attributes_reach_policies(tmp_path: Path) -> None:
    (tmp_path / "owner.cedar").write_text(
        '@id("own-customer")\npermit (principal, action == Action::"read_resource", resource)\n'
        "when { resource has customer_id && principal.groups.contains(resource.customer_id) };\n"
    )
    engine = CedarPolicyEngine.load(
        tmp_path, TOOLSET, clock=FrozenClock(), resource_attributes={"customer_id": "String"}
    )
    mine = PolicyRequest(
        principal=Principal(user_id="bob", groups=frozenset({"c-7"})),
        client=ClientInfo(client_id="dcr-1", verified=False),
        action="read_resource",
        resource="orders://o-1",
        attributes={"customer_id": "c-7"},
    )
    theirs = PolicyRequest(mine.principal, mine.client, "read_resource", "orders://o-2", {"customer_id": "c-8"})
    assert engine.decide(mine) == Decision(True, ("own-customer",))
    assert not engine.decide(theirs).allowed


def test_repeat_callers_are_decided_on_their_current_roles_and_client(engine: CedarPolicyEngine) -> None:
    refund = {"order_id": "o-1", "amount_pence": 1}
    assert engine.decide(_request(("refunds",), True, "call_tool", "request_refund", refund)).allowed
    assert not engine.decide(_request(("support",), True, "call_tool", "request_refund", refund)).allowed
    demoted = PolicyRequest(
        principal=Principal(user_id="alice", roles=frozenset({"refunds"})),
        client=ClientInfo(client_id="https://client.example/meta.json", verified=False),
        action="call_tool",
        resource="request_refund",
        attributes=refund,
    )
    assert engine.decide(demoted) == Decision(False, ("unverified-clients-read-only",))


def test_identical_requests_are_answered_from_the_cache_until_the_policies_change(
    policy_dir: Path, engine: CedarPolicyEngine
) -> None:
    refund = _request(("refunds",), True, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": 100})
    first = engine.decide(refund)
    assert engine.decide(refund) is first  # the cached object itself

    _touch(policy_dir / "refunds.cedar", "// refunds switched off\n")
    assert engine.reload_if_changed() is True
    assert first.allowed
    assert not engine.decide(refund).allowed  # the cache went with the old policies


def test_the_cache_keeps_a_boolean_apart_from_an_equal_integer(engine: CedarPolicyEngine) -> None:
    """1 == True in Python; to Cedar a Long fits amount_pence and a Boolean does not."""
    as_long = _request(("refunds",), True, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": 1})
    as_bool = _request(("refunds",), True, "call_tool", "request_refund", {"order_id": "o-1", "amount_pence": True})

    assert engine.decide(as_long).allowed
    decision = engine.decide(as_bool)
    assert not decision.allowed
    assert decision.errors
