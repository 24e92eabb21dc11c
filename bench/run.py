"""Drawbridge's benchmark: every layer on, against the bare SDK and FastMCP, at 1 to 500 concurrent sessions.

Run from the repository root::

    .venv/bin/python bench/run.py            # the full run (about 15 minutes on 2 cores)
    .venv/bin/python bench/run.py --quick    # 5 s per measurement instead of 10

For each mode (``stateful``, ``stateless``), each number of sessions and each server (``sdk``, ``drawbridge``,
``fastmcp``), a fresh server process starts on 127.0.0.1, takes a short warm-up load, and is then driven by
``bench/load.py`` in a separate process; the server's RSS is sampled throughout. Then one stdio server process is
shared by 20 callers (``bench/stdio_mode.py``). The table (ratios to the bare SDK in the same mode and concurrency)
is printed; JSON and a PNG chart go to ``bench/results/<timestamp>.{json,png}``, server logs to
``bench/results/logs/<timestamp>/``. ``--profile`` adds a py-spy profile of Drawbridge at 20 sessions.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import report
import stdio_mode
from measure import Plan, measure

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
SERVERS = ("sdk", "drawbridge", "fastmcp")
MODES = ("stateful", "stateless")
LEVELS = (1, 20, 100, 500)
PACKAGES = ("mcp-drawbridge", "mcp", "fastmcp", "uvicorn", "uvloop", "httptools", "starlette", "cedarpy", "joserfc")


def run_http(plan: Plan) -> list[dict[str, Any]]:
    """Every (mode, sessions, server), servers interleaved so compared rows are measured minutes apart at most."""
    rows = []
    for mode in plan.modes:
        for sessions in plan.levels:
            for kind in plan.servers:
                started = time.monotonic()
                rows.append(measure(kind, mode, sessions, plan))
                report.say(report.progress_line(rows[-1], time.monotonic() - started))
    return rows


def meta(plan: Plan, argv: list[str]) -> dict[str, Any]:
    """Where and with what this run was made."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "command": " ".join(["bench/run.py", *argv]),
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "git": _git(),
        "python": platform.python_version(),
        "cpus": _cpus(),
        "cpu_model": _cpu_model(),
        "versions": versions,
        "duration_s": plan.duration,
        "warmup_s": plan.warmup,
        "client": plan.client,
        "tool": plan.tool,
        "note": "server and load generator share the machine's cores; compare ratios from one run",
    }


def _git() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)  # noqa: S607 -- git from PATH
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True)  # noqa: S607
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


def _cpu_model() -> str | None:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return None


def parse(argv: list[str]) -> tuple[Plan, argparse.Namespace]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="5 s per measurement and 1 s warm-ups")
    parser.add_argument("--duration", type=float, help="seconds per measurement [10, --quick 5]")
    parser.add_argument("--sessions", default=",".join(map(str, LEVELS)), help="concurrency levels [1,20,100,500]")
    parser.add_argument("--modes", default=",".join(MODES), help="stateful,stateless")
    parser.add_argument("--servers", default=",".join(SERVERS), help="sdk,drawbridge,fastmcp (sdk is the reference)")
    parser.add_argument("--client", choices=("raw", "sdk"), default="raw", help="load generator client [raw]")
    parser.add_argument(
        "--tool",
        choices=("db", "memory"),
        default="db",
        help="check_order_status in every server: db, the demo's code on its SQLite database [default]; memory",
    )
    parser.add_argument("--no-stdio", action="store_true", help="skip the stdio comparison")
    parser.add_argument("--profile", action="store_true", help="also profile Drawbridge at 20 sessions (py-spy)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory [bench/results]")
    args = parser.parse_args(argv)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    plan = Plan(
        modes=tuple(args.modes.split(",")),
        levels=tuple(int(n) for n in args.sessions.split(",")),
        servers=tuple(args.servers.split(",")),
        duration=args.duration or (5.0 if args.quick else 10.0),
        warmup=1.0 if args.quick else 2.0,
        client=args.client,
        logs=args.out / "logs" / stamp,
        tool=args.tool,
    )
    args.stamp = stamp
    return plan, args


def main(argv: list[str]) -> None:
    plan, args = parse(argv)
    result: dict[str, Any] = {"meta": meta(plan, argv), "http": run_http(plan), "stdio": []}
    if not args.no_stdio:
        result["stdio"] = stdio_mode.run_all(duration=plan.duration, logs=plan.logs)  # always the database tool
    if args.profile:
        import profile_server

        result["profile"] = profile_server.run(mode="stateless", sessions=20, duration=15.0, out=plan.logs)
    json_path, png_path = report.write(result, args.out, args.stamp)
    report.say(report.render(result))
    report.say(f"\nJSON: {json_path}\nchart: {png_path}\nserver logs: {plan.logs}")


if __name__ == "__main__":
    main(sys.argv[1:])
