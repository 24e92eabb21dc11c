"""The stdio comparison: one stdio MCP server process shared by concurrent callers, as a stdio bridge runs it.

A stdio server is one process per session: there is one ``initialize``, one identity (``[stdio]`` in Drawbridge's
settings, whoever started the process for the bare SDK), one pipe. To serve several callers a bridge either
multiplexes them all over that pipe — what is measured here: 20 callers, distinct JSON-RPC ids, one session, so
every caller acts as the same user and the audit trail cannot tell them apart — or starts a process per caller
(seconds of cold start and tens of MiB each; the cold start of this one is reported).

``python bench/stdio_mode.py [--callers 20] [--duration 10]`` runs ``drawbridge serve --stdio`` (every guard layer,
audit to SQLite) and the bare SDK over stdio, and prints one JSON object per server.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import uvloop
from launch import BENCH, PeakRss
from load import percentile

CALL = {"name": "check_order_status", "arguments": {"order_id": 2}}
TIMEOUT = 30.0
STDIO_CONFIG = """\
[stdio]
subject = "bench-stdio-user"
client_id = "bench-stdio"
scopes = ["orders:read"]
roles = ["support"]
"""


class StdioPeer:
    """The client end of one stdio server process: requests multiplexed by JSON-RPC id over its pipes."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        stdout = self.process.stdout
        if stdout is None:
            return
        while line := await stdout.readline():
            message = json.loads(line)
            waiter = self._waiting.pop(message.get("id"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
        for waiter in self._waiting.values():  # the process closed its stdout: nothing more will come
            if not waiter.done():
                waiter.set_exception(ConnectionError("the stdio server closed its output"))

    def notify(self, method: str) -> None:
        self._write({"jsonrpc": "2.0", "method": method})

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        request_id = next(self._ids)
        waiter = self._waiting[request_id] = asyncio.get_running_loop().create_future()
        self._write({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        message = await asyncio.wait_for(waiter, TIMEOUT)
        if "error" in message:
            raise RuntimeError(f"JSON-RPC error {message['error'].get('code')}: {message['error'].get('message')}")
        result: dict[str, Any] = message["result"]
        return result

    def _write(self, message: dict[str, Any]) -> None:
        if self.process.stdin is None:
            raise ConnectionError("no stdin")
        self.process.stdin.write(json.dumps(message).encode() + b"\n")

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()  # a stdio server exits when its input ends
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.process.kill()  # only the process this peer started
            await self.process.wait()
        self._reader.cancel()


async def _caller(peer: StdioPeer, end: float, latencies: list[float], failures: dict[str, int]) -> None:
    while time.perf_counter() < end:
        began = time.perf_counter()
        try:
            result = await peer.request("tools/call", CALL)
        except (RuntimeError, ConnectionError, TimeoutError) as exc:
            failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
            continue
        finished = time.perf_counter()
        if result.get("isError") is not False or not result.get("structuredContent"):
            failures["isError result"] = failures.get("isError result", 0) + 1
        elif finished <= end:
            latencies.append((finished - began) * 1000)


async def shared(command: list[str], *, callers: int, duration: float, log_path: Path) -> dict[str, Any]:
    """Start ``command`` (a stdio server), open its one session, then let ``callers`` call it for ``duration`` s."""
    started = time.perf_counter()
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log
        )
    peer = StdioPeer(process)
    try:
        init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
        await peer.request("initialize", init)
        peer.notify("notifications/initialized")
        cold_ms = (time.perf_counter() - started) * 1000
        await peer.request("tools/list", {})
        await _caller(peer, time.perf_counter() + 1.0, [], {})  # warm-up, one caller
        idle = psutil.Process(process.pid).memory_info().rss
        latencies: list[float] = []
        failures: dict[str, int] = {}
        with PeakRss(process.pid) as rss:
            end = time.perf_counter() + duration
            await asyncio.gather(*(_caller(peer, end, latencies, failures) for _ in range(callers)))
    finally:
        await peer.close()
    return {
        "callers": callers,
        "duration_s": duration,
        "calls": len(latencies),
        "calls_per_s": len(latencies) / duration,
        "p50_ms": percentile(latencies, 0.5),
        "p99_ms": percentile(latencies, 0.99),
        "failures": sum(failures.values()),
        "failure_kinds": failures,
        "cold_start_ms": cold_ms,
        "rss_idle_mib": idle / 2**20,
        "rss_peak_mib": rss.peak / 2**20,
    }


def commands(work: Path) -> dict[str, list[str]]:
    """The stdio servers compared: Drawbridge with every guard layer, and the bare SDK, both with the demo's tool
    reading the demo's SQLite database (each in its own data directory)."""
    config = work / "drawbridge.toml"
    config.write_text(STDIO_CONFIG)
    drawbridge = [sys.executable, "-m", "drawbridge", "serve", "--stdio", "--config", str(config)]
    return {
        "drawbridge": [*drawbridge, "--data-dir", str(work / "data")],
        "sdk": [
            *(sys.executable, str(BENCH / "servers.py"), "sdk-stdio", "stateful"),
            *("--data-dir", str(work / "sdk-data"), "--tool", "db"),
        ],
    }


def run_all(*, duration: float, logs: Path, callers: int = 20) -> list[dict[str, Any]]:
    """Measure each stdio server in turn; one summary per server."""
    logs.mkdir(parents=True, exist_ok=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-stdio-") as work:
        for server, command in commands(Path(work)).items():
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                summary = runner.run(
                    shared(command, callers=callers, duration=duration, log_path=logs / f"stdio-{server}.log")
                )
            results.append({"server": server} | summary)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=int, default=20)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--logs", type=Path, default=BENCH / "results" / "logs" / "stdio")
    args = parser.parse_args()
    for summary in run_all(duration=args.duration, logs=args.logs, callers=args.callers):
        sys.stdout.write(json.dumps(summary) + "\n")


if __name__ == "__main__":
    main()
