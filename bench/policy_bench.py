"""Cedar policy decision latency with the demo's shipped policies: p50/p90/p99 µs per ``CedarPolicyEngine.decide``.

Run: ``.venv/bin/python bench/policy_bench.py [decisions-per-run] [runs]``. Not a test: numbers vary by machine.
The request is the demo's refund path (bob, refunds role, verified client, ``request_refund`` with its loaded target
attributes): every file in ``drawbridge/demo/policies`` is evaluated. In the same run, a bare ``cedarpy`` call on a
one-line policy is measured as the baseline, so the ratio survives a noisy machine.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable

import cedarpy

from drawbridge.clock import SystemClock
from drawbridge.demo.store import DemoStore
from drawbridge.demo.tools import POLICIES, build_toolset
from drawbridge.masking import KINDS
from drawbridge.policy import CedarPolicyEngine, ClientInfo, PolicyRequest, Principal


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _measure(action: Callable[[], object], decisions: int, runs: int) -> list[float]:
    for _ in range(200):  # warm up
        action()
    samples: list[float] = []
    for _ in range(runs):
        for _ in range(decisions):
            start = time.perf_counter()
            action()
            samples.append((time.perf_counter() - start) * 1e6)
    return samples


def _line(name: str, samples: list[float]) -> str:
    return (
        f"{name}: {len(samples)} decisions, p50 {statistics.median(samples):.1f} µs, "
        f"p90 {_percentile(samples, 0.9):.1f} µs, p99 {_percentile(samples, 0.99):.1f} µs\n"
    )


def main(decisions: int = 2000, runs: int = 5) -> None:
    toolset = build_toolset(DemoStore(None, SystemClock(), None))  # type: ignore[arg-type]  # the store is never queried
    engine = CedarPolicyEngine.load(POLICIES, toolset, clock=SystemClock(), data_kinds=KINDS)
    request = PolicyRequest(
        principal=Principal(user_id="u-bob", roles=frozenset({"refunds", "support"}), username="bob"),
        client=ClientInfo(client_id="https://client.example/meta.json", verified=True),
        action="call_tool",
        resource="request_refund",
        attributes={"order_id": 2, "reason": "damaged", "order_total_pence": 8498, "order_customer_id": 9},
    )
    assert engine.decide(request).allowed, "the benchmark request should be allowed"  # noqa: S101

    bare_policies = cedarpy.PolicySet.from_str('permit (principal, action == Action::"call_tool", resource);')
    bare_entities = cedarpy.Entities.from_json_str(json.dumps([]))
    bare_request = {
        "principal": {"type": "User", "id": "u-bob"},
        "action": {"type": "Action", "id": "call_tool"},
        "resource": {"type": "Tool", "id": "request_refund"},
        "context": {},
    }

    ours = _measure(lambda: engine.decide(request), decisions, runs)
    bare = _measure(lambda: cedarpy.is_authorized(bare_request, bare_policies, bare_entities), decisions, runs)
    sys.stdout.write(_line("drawbridge decide (demo policies)", ours))
    sys.stdout.write(_line("bare cedarpy (one permit, no entities)", bare))
    sys.stdout.write(f"ratio of p50s: {statistics.median(ours) / statistics.median(bare):.2f}x\n")


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:3]))
