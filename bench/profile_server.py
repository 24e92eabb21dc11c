"""Where Drawbridge's time per call goes: a py-spy profile under load, and the same load with layers switched off.

``.venv/bin/python bench/profile_server.py [--mode stateless] [--sessions 20] [--duration 15] [--no-ablation]``

1. Profile: Drawbridge (every layer on, the demo toolset) under ``--sessions`` sessions; ``py-spy record`` samples
   the server process. Each sample of the event loop's thread is charged to the innermost frame that belongs to a
   known layer (``LAYERS``), so SQLAlchemy work under the audit writer counts as audit, and the SDK's own frames as
   SDK. Shares are of that thread's samples; µs/call spreads its measured CPU time over the calls.
2. Ablation: the same load against Drawbridge variants (``servers.VARIANTS``: a layer switched off, or the demo's
   SQLite reads replaced by constants) and the bare SDK, one fresh process each.

Writes ``bench/results/<timestamp>-profile.json`` and the py-spy raw stacks next to it, and prints both tables.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import launch
import report
from measure import BENCH, Plan, load, measure
from servers import VARIANTS

# (layer, frame patterns); a sample goes to the innermost frame matching any pattern, checked in this order.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("JWT signature and claims (joserfc)", ("joserfc/", "drawbridge/keys/access_token.py")),
    ("token cache and revocation check", ("drawbridge/resource_server/tokens.py",)),
    ("Cedar policy decision", ("cedarpy/", "drawbridge/policy/")),
    ("policy target loader (demo: 1 SQLite read)", ("_order_target.<locals>.load",)),
    ("tool body (demo: answers from the loader's row)", ("order_status (drawbridge/demo",)),
    ("masking", ("drawbridge/masking/", "drawbridge/guard/masking.py")),
    ("audit (event, hash chain, SQLite append)", ("drawbridge/audit/", "drawbridge/guard/audit.py")),
    ("access policy glue (principal, context)", ("drawbridge/guard/access.py",)),
    ("guard pipeline (input/output validation)", ("drawbridge/guard/",)),
    ("structured logging", ("structlog/", "(logging/")),
    ("MCP SDK (transport, session, JSON-RPC)", ("(mcp/", "(mcp_types/", "(sse_starlette/", "(anyio/")),
    ("rate limiting", ("drawbridge/edge/rate_limit.py", "(limits/", "McpRateLimitMiddleware")),
    ("bearer middleware (body buffer, scopes)", ("drawbridge/resource_server/",)),
    ("edge middleware (headers, body cap, origin)", ("drawbridge/edge/", "starlette/middleware/")),
    ("Starlette app and routing", ("(starlette/",)),
    ("uvicorn and HTTP parsing", ("(uvicorn/",)),
)
DATABASE = ("(sqlalchemy/", "(aiosqlite/")
CROSS_CUTTING = (
    ("SQLAlchemy + aiosqlite (wherever called)", DATABASE),
    ("pydantic (wherever called)", ("(pydantic/", "(pydantic_core/")),
    ("json (wherever called)", ("(json/",)),
)


def _layer(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, patterns in LAYERS:
            if any(p in frame for p in patterns):
                return name
    if any(p in frame for frame in frames for p in DATABASE):
        # SQLAlchemy's asyncio bridge runs in greenlets, whose stacks py-spy shows without their callers.
        return "SQLAlchemy + aiosqlite, caller not visible (greenlet stacks)"
    if frames and frames[-1].startswith("Runner.run "):
        return "event loop (uvloop, in C: I/O, callbacks, wake-ups)"
    return "other"


def analyse(raw: Path) -> dict[str, Any]:
    """Shares of the event loop thread's samples per layer, and how busy the other threads were."""
    layers: Counter[str] = Counter()
    cross: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    main = other = 0
    workers: set[str] = set()
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # py-spy now and then writes a damaged line; one sample less changes nothing
        frames, n = stack.split(";"), int(count)
        if "MainThread" not in frames[0]:
            other += n
            if "_connection_worker_thread" in frames[0]:
                workers.add(frames[0])
            continue
        main += n
        layers[_layer(frames[1:])] += n
        leaves[re.sub(r":\d+\)", ")", frames[-1])] += n
        for name, patterns in CROSS_CUTTING:
            if any(p in frame for frame in frames for p in patterns):
                cross[name] += n
    share = {name: n / main for name, n in layers.most_common()} if main else {}
    return {
        "main_thread_samples": main,
        "other_thread_samples": other,
        "aiosqlite_threads_seen": len(workers),
        "layers": share,
        "cross_cutting": {name: n / main for name, n in cross.most_common()} if main else {},
        "top_leaf_frames": {name: n / main for name, n in leaves.most_common(15)} if main else {},
    }


def profile(mode: str, sessions: int, duration: float, out: Path) -> dict[str, Any]:
    """Load Drawbridge with ``sessions`` sessions and sample it with py-spy for ``duration`` s."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    raw = out / f"profile-{mode}-{sessions}.txt"
    out.mkdir(parents=True, exist_ok=True)
    with launch.running("drawbridge", mode, tokens=sessions, log_path=out / f"profile-{mode}.log") as server:
        load(server.ready_file, mode, sessions, 2.0, "raw")  # warm-up
        command = [sys.executable, str(BENCH / "load.py"), "--ready", str(server.ready_file), "--mode", mode]
        command += ["--sessions", str(sessions), "--duration", str(duration + 4), "--client", "raw"]
        loader = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603 -- our own script
        time.sleep(2.0)  # sessions open; sample the steady state only
        cpu, main_cpu = server.cpu_seconds(), server.main_thread_cpu_seconds()
        spy_args = ["record", "--pid", str(server.popen.pid), "--duration", str(int(duration)), "--rate", "200"]
        spy_args += ["--format", "raw", "--threads", "--nonblocking", "--output", str(raw)]
        subprocess.run([spy, *spy_args], capture_output=True, check=True)  # noqa: S603 -- py-spy on our server
        cpu, main_cpu = server.cpu_seconds() - cpu, server.main_thread_cpu_seconds() - main_cpu
        summary = json.loads(loader.communicate(timeout=duration + 120)[0].strip().splitlines()[-1])
    calls = summary["calls"] * duration / (duration + 4)  # calls during the sampled seconds, at the run's mean rate
    result = analyse(raw) | {"mode": mode, "sessions": sessions, "load": summary, "raw_stacks": str(raw)}
    result |= {"cpu_us_per_call": cpu / calls * 1e6, "main_thread_cpu_us_per_call": main_cpu / calls * 1e6}
    result["table"] = profile_table(result)
    return result


def profile_table(result: dict[str, Any]) -> str:
    """Markdown: share of the event loop thread and µs per call, per layer."""
    per_call = result["main_thread_cpu_us_per_call"]
    lines = [
        f"Drawbridge, {result['mode']}, {result['sessions']} sessions: "
        f"{result['load']['calls_per_s']:.0f} calls/s; CPU per call {result['cpu_us_per_call']:.0f} µs "
        f"(event loop thread {per_call:.0f} µs); other threads had "
        f"{result['other_thread_samples'] / max(result['main_thread_samples'], 1):.0%} as many samples as the event "
        f"loop's, {result['aiosqlite_threads_seen']} distinct aiosqlite connection threads seen",
        "",
        "| layer (innermost owner of each sample) | share of event loop thread | ≈ µs per call |",
        "| --- | ---: | ---: |",
    ]
    for name, share in result["layers"].items():
        lines.append(f"| {name} | {share:.1%} | {share * per_call:.0f} |")
    lines += ["", "| cross-cutting (inclusive, overlaps the above) | share | ≈ µs per call |", "| --- | ---: | ---: |"]
    for name, share in result["cross_cutting"].items():
        lines.append(f"| {name} | {share:.1%} | {share * per_call:.0f} |")
    return "\n".join(lines)


def ablation(mode: str, sessions: int, plan: Plan) -> list[dict[str, Any]]:
    """The same load on the bare SDK and on each Drawbridge variant (one fresh process each)."""
    rows = [measure("sdk", mode, sessions, plan, tool="db"), measure("sdk", mode, sessions, plan, tool="memory")]
    for variant in VARIANTS:
        rows.append(measure("drawbridge", mode, sessions, plan, variant=variant))
    return rows


def _tool_of(row: dict[str, Any]) -> str:
    """Which tool a row ran: Drawbridge's static-tool variants answer from memory whatever ``--tool`` said."""
    return "memory" if row["variant"].startswith("static-tool") else str(row.get("tool", "db"))


def ablation_table(rows: list[dict[str, Any]]) -> str:
    """Markdown: calls/s, latency and server CPU per call of each variant, and its CPU over the bare SDK's with the
    same tool (the demo's on SQLite, or from memory)."""
    sdk_cpu = {_tool_of(r): r["server_cpu_s"] / max(r["calls"], 1) * 1e6 for r in rows if r["server"] == "sdk"}
    lines = [
        "| server | calls/s | p50 ms | p99 ms | failures | server CPU µs/call | over bare SDK |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        cpu = row["server_cpu_s"] / max(row["calls"], 1) * 1e6
        tool = _tool_of(row)
        where = "tool on SQLite" if tool == "db" else "tool from memory"
        name = f"bare SDK ({where})" if row["server"] == "sdk" else f"drawbridge ({row['variant']}, {where})"
        lines.append(
            f"| {name} | {row['calls_per_s']:.0f} | {row['p50_ms']:.1f} | {row['p99_ms']:.1f} | {row['failures']} "
            f"| {cpu:.0f} | {cpu - sdk_cpu.get(tool, 0.0):+.0f} |"
        )
    return "\n".join(lines)


def run(*, mode: str, sessions: int, duration: float, out: Path, with_ablation: bool = True) -> dict[str, Any]:
    """The profile, then (unless switched off) the ablation; both tables joined under ``table``."""
    result: dict[str, Any] = {"profile": profile(mode, sessions, duration, out)}
    table = [result["profile"]["table"]]
    if with_ablation:
        plan = Plan((mode,), (sessions,), ("drawbridge",), duration=10.0, warmup=2.0, client="raw", logs=out)
        result["ablation"] = ablation(mode, sessions, plan)
        table += ["", "Ablation (one fresh process each, same load)", "", ablation_table(result["ablation"])]
    result["table"] = "\n".join(table)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("stateful", "stateless"), default="stateless")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds sampled by py-spy")
    parser.add_argument("--no-ablation", action="store_true")
    args = parser.parse_args()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out = BENCH / "results"
    result = run(
        mode=args.mode,
        sessions=args.sessions,
        duration=args.duration,
        out=out / "logs" / f"{stamp}-profile",
        with_ablation=not args.no_ablation,
    )
    path = out / f"{stamp}-profile-{args.mode}.json"
    path.write_text(json.dumps(result, indent=1) + "\n")
    report.say(result["table"])
    report.say(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
