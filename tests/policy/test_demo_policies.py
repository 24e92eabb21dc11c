"""The demo's Cedar policies over the demo's real tools and data: who may call, read, list and see what in clear.

Decisions go through the guard's side of the seam (``AccessPolicy``), so each tool's and resource's target (the
order's total and owner) is loaded from a real DemoStore first, exactly as for a live request; no HTTP here.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.demo import DemoStore, build_toolset
from drawbridge.demo.seed import SEED_EPOCH
from drawbridge.demo.tools import MAX_ID, POLICIES
from drawbridge.guard.access import AccessPolicy, client_of, principal_of
from drawbridge.masking import KINDS
from drawbridge.policy import CedarPolicyEngine, Decision, PolicyRequest
from drawbridge.storage.database import Reader
from drawbridge.testing import FrozenClock
from drawbridge.tools import Caller, ToolCall, Toolset, tool

VERIFIED_CLIENT = "https://client.example/agent.json"  # CIMD: an https client_id the server fetched
DCR_CLIENT = "3f9c2a7e-dcr-registered"  # Dynamic Client Registration: anyone can create one
SCOPES = frozenset({"orders:read", "orders:refund"})  # scopes are the guard's business; every caller has all here


def _caller(roles: tuple[str, ...], username: str | None, *, verified: bool = True) -> Caller:
    return Caller(
        subject=f"sub-{username or 'anonymous'}",
        client_id=VERIFIED_CLIENT if verified else DCR_CLIENT,
        scopes=SCOPES,
        roles=roles,
        username=username,
        client_verified=verified,
    )


ALICE = _caller(("support",), "alice")
BOB = _caller(("support", "refunds"), "bob")
BOB_UNVERIFIED = _caller(("support", "refunds"), "bob", verified=False)
THOMAS = _caller(("customer",), "thomas")  # customer 3: owns orders 27, 39 and 55
MALLORY = _caller(("customer",), "mallory")  # a customer role, but not the owner of any seeded order
NOBODY = _caller((), "nobody")
EVERY_ROLE = _caller(("support", "refunds", "customer"), "thomas")

DENIED = Decision(allowed=False)  # denied by default: no policy permits it


def permitted(*policy_ids: str) -> Decision:
    return Decision(allowed=True, policy_ids=policy_ids)


def forbidden(*policy_ids: str) -> Decision:
    return Decision(allowed=False, policy_ids=policy_ids)


ORDER_2 = {"order_id": 2}  # delivered, £84.98, customer 9 (no shop account)
CUSTOMER_1 = {"customer_id": 1, "period": "all_time"}
REFUND_2 = {"order_id": 2, "reason": "damaged"}
REFUND_6 = {"order_id": 6, "reason": "damaged"}  # delivered, £307.95: above the policy's £250, below the tool's £500
REFUND_999 = {"order_id": 999, "reason": "damaged"}  # no such order: nothing to decide the limit on

TABLE = [
    # support: reads orders and customers, never moves money
    pytest.param(ALICE, "check_order_status", ORDER_2, permitted("support-reads-orders"), id="alice-checks-order"),
    pytest.param(
        ALICE, "summarise_customer_orders", CUSTOMER_1, permitted("support-reads-orders"), id="alice-summarises"
    ),
    pytest.param(ALICE, "orders://2", {}, permitted("support-reads-order-resources"), id="alice-reads-order"),
    pytest.param(ALICE, "request_refund", REFUND_2, DENIED, id="alice-cannot-refund"),
    # refunds: up to the policy's limit, through a verified client only
    pytest.param(BOB, "request_refund", REFUND_2, permitted("refunds-up-to-limit"), id="bob-refunds-small-order"),
    pytest.param(BOB, "request_refund", REFUND_6, DENIED, id="bob-cannot-refund-above-policy-limit"),
    pytest.param(BOB, "request_refund", REFUND_999, DENIED, id="bob-cannot-refund-unknown-order"),
    pytest.param(BOB, "check_order_status", ORDER_2, permitted("support-reads-orders"), id="bob-checks-order"),
    pytest.param(
        BOB_UNVERIFIED,
        "request_refund",
        REFUND_2,
        forbidden("unverified-clients-read-only"),
        id="bob-unverified-client-cannot-refund",
    ),
    pytest.param(
        BOB_UNVERIFIED, "check_order_status", ORDER_2, permitted("support-reads-orders"), id="bob-unverified-checks"
    ),
    pytest.param(
        BOB_UNVERIFIED,
        "summarise_customer_orders",
        CUSTOMER_1,
        permitted("support-reads-orders"),
        id="bob-unverified-summarises",
    ),
    pytest.param(
        BOB_UNVERIFIED, "orders://2", {}, permitted("support-reads-order-resources"), id="bob-unverified-reads-order"
    ),
    # customer: their own orders and nobody else's
    pytest.param(
        THOMAS, "check_order_status", {"order_id": 27}, permitted("customers-check-own-orders"), id="thomas-checks-own"
    ),
    pytest.param(THOMAS, "orders://27", {}, permitted("customers-read-own-orders"), id="thomas-reads-own-27"),
    pytest.param(THOMAS, "orders://39", {}, permitted("customers-read-own-orders"), id="thomas-reads-own-39"),
    pytest.param(THOMAS, "orders://2", {}, DENIED, id="thomas-cannot-read-others-order"),
    pytest.param(THOMAS, "check_order_status", ORDER_2, DENIED, id="thomas-cannot-check-others-order"),
    pytest.param(THOMAS, "check_order_status", {"order_id": 999}, DENIED, id="thomas-cannot-check-unknown-order"),
    pytest.param(
        THOMAS, "summarise_customer_orders", {"customer_id": 3, "period": "all_time"}, DENIED, id="thomas-no-summary"
    ),
    pytest.param(THOMAS, "request_refund", {"order_id": 27, "reason": "damaged"}, DENIED, id="thomas-cannot-refund"),
    pytest.param(MALLORY, "orders://27", {}, DENIED, id="another-customer-cannot-read-thomass-order"),
    pytest.param(MALLORY, "check_order_status", {"order_id": 27}, DENIED, id="another-customer-cannot-check-it"),
    pytest.param(_caller(("customer",), None), "orders://27", {}, DENIED, id="customer-without-username-reads-nothing"),
    # no roles: nothing at all
    pytest.param(NOBODY, "check_order_status", ORDER_2, DENIED, id="nobody-cannot-check"),
    pytest.param(NOBODY, "summarise_customer_orders", CUSTOMER_1, DENIED, id="nobody-cannot-summarise"),
    pytest.param(NOBODY, "request_refund", REFUND_2, DENIED, id="nobody-cannot-refund"),
    pytest.param(NOBODY, "orders://2", {}, DENIED, id="nobody-cannot-read"),
]


@pytest.fixture
async def store(engine: AsyncEngine, clock: FrozenClock, reader: Reader) -> DemoStore:
    clock.current = SEED_EPOCH + 12 * 3600  # noon on the seed's "today", 2026-11-25
    store = DemoStore(engine, clock, reader)
    await store.ensure_schema()
    return store


@pytest.fixture
def toolset(store: DemoStore) -> Toolset:
    return build_toolset(store)


@pytest.fixture
def policy(toolset: Toolset, clock: FrozenClock) -> CedarPolicyEngine:
    return CedarPolicyEngine.load(POLICIES, toolset, clock=clock, data_kinds=KINDS)


@pytest.fixture
def access(policy: CedarPolicyEngine) -> AccessPolicy:
    return AccessPolicy(policy)


async def _decide(
    access: AccessPolicy, toolset: Toolset, caller: Caller, target: str, args: dict[str, Any]
) -> Decision:
    """What the guard would decide: a resource URI is read, anything else is a tool called with ``args``."""
    template = next((r for r in toolset.resources if r.match(target) is not None), None)
    if template is not None:
        values = template.match(target)
        assert values is not None
        return await access.read(caller, template, target, values)
    found = toolset.find(target)
    assert found is not None, target
    return await access.call(caller, found, found.input_model.model_validate(args, strict=True))


Decide = Callable[[Caller, str, dict[str, Any]], Awaitable[Decision]]


@pytest.fixture
def decide(access: AccessPolicy, toolset: Toolset) -> Decide:
    return functools.partial(_decide, access, toolset)


@pytest.mark.parametrize(("caller", "target", "args", "expected"), TABLE)
async def test_demo_policy_decides_each_call_and_read(
    decide: Decide, caller: Caller, target: str, args: dict[str, Any], expected: Decision
) -> None:
    assert await decide(caller, target, args) == expected


@pytest.mark.parametrize(
    ("caller", "tools", "template"),
    [
        pytest.param(ALICE, {"check_order_status", "summarise_customer_orders"}, True, id="alice"),
        pytest.param(BOB, {"check_order_status", "summarise_customer_orders", "request_refund"}, True, id="bob"),
        pytest.param(
            BOB_UNVERIFIED, {"check_order_status", "summarise_customer_orders"}, True, id="bob-unverified-client"
        ),
        pytest.param(THOMAS, {"check_order_status"}, True, id="thomas"),
        pytest.param(NOBODY, set(), False, id="no-roles"),
    ],
)
def test_listing_shows_each_caller_only_what_they_may_use(
    access: AccessPolicy, toolset: Toolset, caller: Caller, tools: set[str], template: bool
) -> None:
    assert {t.name for t in toolset.tools if access.may_list_tool(caller, t)} == tools
    assert [access.may_list_template(caller, r) for r in toolset.resources] == [template]


@pytest.mark.parametrize(
    ("caller", "kinds"),
    [
        pytest.param(BOB, {"email"}, id="refunds-sees-emails"),
        pytest.param(ALICE, set(), id="support-sees-nothing-in-clear"),
        # clients.cedar: a self-registered client sees personal data masked, whatever the user's role allows.
        pytest.param(BOB_UNVERIFIED, set(), id="refunds-through-unverified-client-sees-masked-data"),
        pytest.param(THOMAS, set(), id="customer-sees-nothing-in-clear"),
        pytest.param(NOBODY, set(), id="no-roles"),
    ],
)
def test_unmasked_kinds_follow_the_role(access: AccessPolicy, caller: Caller, kinds: set[str]) -> None:
    assert access.unmasked(caller) == kinds


def test_a_reload_that_drops_the_unmask_policy_takes_effect_at_once(
    toolset: Toolset, clock: FrozenClock, tmp_path: Path
) -> None:
    directory = Path(shutil.copytree(POLICIES, tmp_path / "policies"))
    policy = CedarPolicyEngine.load(directory, toolset, clock=clock, data_kinds=KINDS)
    access = AccessPolicy(policy)
    assert access.unmasked(BOB) == {"email"}  # now cached for bob

    refunds_policy = directory / "refunds.cedar"
    kept, _, _ = refunds_policy.read_text(encoding="utf-8").partition("// The refunds team emails customers")
    refunds_policy.write_text(kept, encoding="utf-8")

    assert policy.reload_if_changed() is True
    assert access.unmasked(BOB) == frozenset()  # the cached answer went with the old policies


# --- a tool author adds a tool and forgets the policy ------------------------------------------------------------


class ParcelQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: int = Field(ge=1, le=MAX_ID, description="The order whose parcel to track (1 to 10,000,000).")


class ParcelResult(BaseModel):
    order_id: int


@tool(
    name="track_parcel",
    title="Track a parcel",
    description="Ask the carrier where an order's parcel is right now. Use it after check_order_status shows the "
    "order shipped. Returns the order id only in this test; it changes nothing.",
    scopes=("orders:read",),
    read_only=True,
    destructive=False,
    idempotent=True,
    open_world=True,
)
async def track_parcel(call: ToolCall, args: ParcelQuery) -> ParcelResult:
    return ParcelResult(order_id=args.order_id)


@tool(
    name="cancel_order",
    title="Cancel an order",
    description="Cancel an order that has not shipped yet. Use it only when the customer asks to cancel. Returns "
    "the order id; in this test it changes nothing, in real life it could not be undone.",
    scopes=("orders:refund",),
    read_only=False,
    destructive=True,
    idempotent=True,
    open_world=False,
)
async def cancel_order(call: ToolCall, args: ParcelQuery) -> ParcelResult:
    return ParcelResult(order_id=args.order_id)


@pytest.fixture
def extended(toolset: Toolset) -> Toolset:
    """The demo plus two new tools (one read-only, one destructive) that no demo policy mentions."""
    return Toolset(tools=(*toolset.tools, track_parcel, cancel_order), resources=toolset.resources)


@pytest.mark.parametrize("name", ["track_parcel", "cancel_order"])
@pytest.mark.parametrize(
    "caller",
    [ALICE, BOB, BOB_UNVERIFIED, THOMAS, NOBODY, EVERY_ROLE],
    ids=["alice", "bob", "bob-unverified", "thomas", "nobody", "every-role"],
)
async def test_a_new_tool_without_a_policy_is_denied_and_hidden_for_everyone(
    extended: Toolset, clock: FrozenClock, caller: Caller, name: str
) -> None:
    access = AccessPolicy(CedarPolicyEngine.load(POLICIES, extended, clock=clock, data_kinds=KINDS))
    new = extended.find(name)
    assert new is not None

    decision = await access.call(caller, new, ParcelQuery(order_id=27))

    assert decision.allowed is False
    assert decision.errors == ()  # denied by the policies (none permits it), not by an evaluation failure
    assert access.may_list_tool(caller, new) is False


async def test_existing_tools_keep_their_decisions_when_a_new_tool_is_added(
    extended: Toolset, clock: FrozenClock
) -> None:
    access = AccessPolicy(CedarPolicyEngine.load(POLICIES, extended, clock=clock, data_kinds=KINDS))

    assert await _decide(access, extended, BOB, "request_refund", REFUND_2) == permitted("refunds-up-to-limit")
    assert await _decide(access, extended, ALICE, "request_refund", REFUND_2) == DENIED


# --- explain: the operator's view of a decision ------------------------------------------------------------------


def _line_of(path: Path, policy_id: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, start=1) if line.startswith(f'@id("{policy_id}")'))


async def _refund_request(toolset: Toolset, caller: Caller, args: dict[str, Any]) -> PolicyRequest:
    refund = toolset.find("request_refund")
    assert refund is not None
    assert refund.target is not None
    attributes = {**args, **(await refund.target.load(args) or {})}
    return PolicyRequest(principal_of(caller), client_of(caller), "call_tool", "request_refund", attributes)


@pytest.mark.parametrize(
    ("caller", "policy_id", "file"),
    [
        pytest.param(BOB, "refunds-up-to-limit", "refunds.cedar", id="permit"),
        pytest.param(BOB_UNVERIFIED, "unverified-clients-read-only", "clients.cedar", id="forbid"),
    ],
)
async def test_explain_names_the_deciding_policy_and_where_it_is(
    policy: CedarPolicyEngine, toolset: Toolset, caller: Caller, policy_id: str, file: str
) -> None:
    explanation = policy.explain(await _refund_request(toolset, caller, REFUND_2))

    path = POLICIES / file
    assert f"{policy_id!r} ({path}:{_line_of(path, policy_id)})" in explanation


async def test_explain_of_a_default_deny_cites_no_policy(policy: CedarPolicyEngine, toolset: Toolset) -> None:
    explanation = policy.explain(await _refund_request(toolset, ALICE, REFUND_2))

    assert explanation.startswith("Denied by default")
    assert ".cedar" not in explanation
