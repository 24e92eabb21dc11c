"""One measurement: a fresh server process, a warm-up, then the load generator with the server's RSS sampled."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import launch

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Plan:
    """What one run measures."""

    modes: tuple[str, ...]
    levels: tuple[int, ...]
    servers: tuple[str, ...]
    duration: float
    warmup: float
    client: str
    logs: Path
    tool: str = "db"  # "db": every server runs the demo's tool on its SQLite database; "memory": constants


def measure(
    kind: str, mode: str, sessions: int, plan: Plan, *, variant: str = "full", tool: str | None = None
) -> dict[str, Any]:
    """One fresh server process, warmed up, then driven by ``sessions`` sessions for ``plan.duration`` s."""
    tool = tool or plan.tool
    suffix = ("" if variant == "full" else "-" + re.sub(r"[^a-z]+", "-", variant)) + f"-{tool}"
    log_path = plan.logs / f"{mode}-{sessions}-{kind}{suffix}.log"
    row: dict[str, Any] = {"server": kind, "mode": mode, "sessions": sessions, "variant": variant, "tool": tool}
    with launch.running(kind, mode, tokens=sessions, log_path=log_path, variant=variant, tool=tool) as server:
        warm = load(server.ready_file, mode, min(sessions, 20), plan.warmup, plan.client)
        idle = server.rss()
        cpu, main_cpu, busy = server.cpu_seconds(), server.main_thread_cpu_seconds(), launch.machine_busy_seconds()
        with launch.PeakRss(server.popen.pid) as rss:
            summary = load(server.ready_file, mode, sessions, plan.duration, plan.client)
        busy = launch.machine_busy_seconds() - busy
        row |= summary
        row |= {
            "warmup_failures": warm.get("failures"),
            "rss_idle_mib": idle / 2**20,
            "rss_peak_mib": rss.peak / 2**20,
            "rss_per_session_kib": (rss.peak - idle) / sessions / 1024,
            "server_cpu_s": server.cpu_seconds() - cpu,
            "server_main_thread_cpu_s": server.main_thread_cpu_seconds() - main_cpu,
        }
        # CPU the rest of the machine used meanwhile (other processes share these cores): noise to report.
        row["other_cpu_s"] = max(0.0, busy - row["server_cpu_s"] - row.get("loadgen_cpu_s", 0.0))
    row["server_exit"] = server.popen.returncode
    row["server_log_problems"], row["server_log_samples"] = launch.log_problems(log_path)
    return row


def load(ready: Path, mode: str, sessions: int, duration: float, client: str) -> dict[str, Any]:
    """Run bench/load.py in its own process; its summary, or a crash counted as every session failing."""
    command = [sys.executable, str(BENCH / "load.py"), "--ready", str(ready), "--mode", mode]
    command += ["--sessions", str(sessions), "--duration", str(duration), "--client", client]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 180, check=False)  # noqa: S603 -- our own script
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        return {"failures": sessions, "failure_kinds": {"load generator crashed": sessions}, "error": tail}
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return summary
