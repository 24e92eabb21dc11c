"""Cedar policy decision latency: p50/p90/p99 microseconds per ``CedarPolicyEngine.decide``.

Run: ``.venv/bin/python bench/policy_bench.py [decisions-per-run] [runs]``. Not a test: numbers vary by machine.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from drawbridge.clock import SystemClock
from drawbridge.policy import CedarPolicyEngine, ClientInfo, PolicyRequest, Principal
from drawbridge.tools import ToolCall, Toolset, tool

POLICIES = """\
@id("support-reads-orders")
permit (principal in Role::"support", action == Action::"call_tool", resource)
when { resource in [Tool::"check_order_status"] };

@id("refunds-within-limit")
permit (principal in Role::"refunds", action == Action::"call_tool", resource == Tool::"request_refund")
when { context has amount_pence && context.amount_pence <= 50000 };

@id("unverified-clients-read-only")
forbid (principal, action == Action::"call_tool", resource)
when { !resource.read_only && !context.client.verified };
"""


class RefundInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    order_id: str = Field(max_length=20, description="The order to refund, e.g. o-1001.")
    amount_pence: int = Field(ge=1, le=10_000_000, description="How much to refund, in pence.")


class RefundOutput(BaseModel):
    refunded: int


def _toolset() -> Toolset:
    async def handler(call: ToolCall, args: RefundInput) -> RefundOutput:
        return RefundOutput(refunded=args.amount_pence)

    tools = (
        tool(
            name="check_order_status",
            title="Check",
            description="Benchmark tool check_order_status. Use it only in the policy benchmark; it changes nothing.",
            scopes=("orders:read",),
            read_only=True,
            destructive=False,
            idempotent=True,
            open_world=False,
        )(handler),
        tool(
            name="request_refund",
            title="Refund",
            description="Benchmark tool request_refund. Use it only in the policy benchmark; it changes nothing.",
            scopes=("orders:refund",),
            read_only=False,
            destructive=True,
            idempotent=False,
            open_world=False,
        )(handler),
    )
    return Toolset(tools=tools)


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def main(decisions: int = 2000, runs: int = 5) -> None:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "demo.cedar").write_text(POLICIES)
        engine = CedarPolicyEngine.load(Path(directory), _toolset(), clock=SystemClock())
    request = PolicyRequest(
        principal=Principal(user_id="alice", roles=frozenset({"refunds", "support"})),
        client=ClientInfo(client_id="https://client.example/meta.json", verified=True),
        action="call_tool",
        resource="request_refund",
        attributes={"order_id": "o-1001", "amount_pence": 1200},
    )
    assert engine.decide(request).allowed, "the benchmark request should be allowed"  # noqa: S101
    for _ in range(200):  # warm up
        engine.decide(request)
    samples: list[float] = []
    for _ in range(runs):
        for _ in range(decisions):
            start = time.perf_counter()
            engine.decide(request)
            samples.append((time.perf_counter() - start) * 1e6)
    sys.stdout.write(
        f"cedar decide: {len(samples)} decisions, p50 {statistics.median(samples):.1f} µs, "
        f"p90 {_percentile(samples, 0.9):.1f} µs, p99 {_percentile(samples, 0.99):.1f} µs\n"
    )


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
