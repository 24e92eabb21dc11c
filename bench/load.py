"""The load generator: N concurrent MCP client sessions that open, then call one tool for a fixed time.

``python bench/load.py --ready FILE --mode stateful|stateless --sessions N --duration S [--client sdk|raw]``

Each session is a real MCP client session with its own connection and bearer token: in ``stateful`` mode it
initializes (protocol 2025-11-25, ``Mcp-Session-Id``), in ``stateless`` mode it discovers (``server/discover``,
protocol 2026-07-28); then every session calls ``check_order_status {"order_id": 2}`` back to back. The measured
window starts once every session is open and lasts ``--duration`` seconds; calls that complete inside it count.
A failure is any exception (HTTP error, timeout, JSON-RPC error) or a result with ``isError`` true.

Clients (``--client``):

- ``sdk``: the official SDK client (``mcp.Client`` over ``streamable_http_client``, an ``httpx2`` client per
  session carrying the Authorization header).
- ``raw``: the same protocol messages and headers over a minimal HTTP/1.1 keep-alive client (``httptools``
  parser). It costs the load generator several times less CPU per call, which matters when it shares two cores
  with the server (docs/performance.md).

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from raw_client import RawSession

TOOL = "check_order_status"
ARGUMENTS = {"order_id": 2}
GRACE_SECONDS = 30.0  # in-flight calls at the end of the window may finish within this, else they failed

Call = Callable[[], Awaitable[bool]]
Opener = Callable[[str, str | None, str], AbstractAsyncContextManager[Call]]


@dataclass
class Tally:
    """What every session saw, shared (one event loop, so no locks)."""

    latencies_ms: list[float] = field(default_factory=list)
    open_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    open_failures: int = 0
    calls_after_window: int = 0


@asynccontextmanager
async def sdk_session(url: str, token: str | None, mode: str) -> AsyncIterator[Call]:
    """An official SDK client session; yields a function making one call (True when the result is not an error)."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=GRACE_SECONDS) as http:
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="legacy" if mode == "stateful" else "auto") as client:  # type: ignore[arg-type]

            async def call() -> bool:
                result = await client.call_tool(TOOL, ARGUMENTS)
                return not result.is_error and bool(result.structured_content)

            yield call


@asynccontextmanager
async def raw_session(url: str, token: str | None, mode: str) -> AsyncIterator[Call]:
    """A session of the minimal HTTP/1.1 client speaking the same MCP messages."""
    session = RawSession(url, token, mode)
    try:
        await session.open()
        yield lambda: session.call_tool(TOOL, ARGUMENTS)
    finally:
        await session.close()


OPENERS: dict[str, Opener] = {"sdk": sdk_session, "raw": raw_session}


def _failure(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


async def _session(opener: Opener, url: str, token: str | None, mode: str, *, tally: Tally, window: Window) -> None:
    started = time.perf_counter()
    opened = False
    try:
        async with opener(url, token, mode) as call:
            tally.open_ms.append((time.perf_counter() - started) * 1000)
            opened = True
            window.opened()
            await window.start.wait()
            await _call_until(call, tally, window)
    except Exception as exc:  # noqa: BLE001 -- every failure of a session is counted, none may stop the others
        if opened:
            tally.failures[_failure(exc)] += 1
        else:
            tally.open_failures += 1
            tally.failures[f"open: {_failure(exc)}"] += 1
            window.opened()


async def _call_until(call: Call, tally: Tally, window: Window) -> None:
    while time.perf_counter() < window.end:
        began = time.perf_counter()
        try:
            ok = await call()
        except Exception as exc:  # noqa: BLE001 -- counted as a failed call; the session carries on
            tally.failures[_failure(exc)] += 1
            continue
        finished = time.perf_counter()
        if finished > window.end:
            tally.calls_after_window += 1
        elif not ok:
            tally.failures["isError result"] += 1
        else:
            tally.latencies_ms.append((finished - began) * 1000)


class Window:
    """The measured interval: it opens when every session has opened (or failed to)."""

    def __init__(self, sessions: int, duration: float) -> None:
        self.start = asyncio.Event()
        self.end = float("inf")
        self._waiting = sessions
        self._duration = duration
        self.began = 0.0

    def opened(self) -> None:
        self._waiting -= 1
        if self._waiting == 0:
            self.began = time.perf_counter()
            self.end = self.began + self._duration
            self.start.set()


def percentile(samples: list[float], fraction: float) -> float | None:
    """The sample at ``fraction`` of the sorted samples (nearest rank), or None when there are none."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def run(ready: dict[str, Any], mode: str, sessions: int, duration: float, client: str) -> dict[str, Any]:
    """Drive ``sessions`` sessions for ``duration`` seconds; the summary the launcher records."""
    tokens: list[str] = ready["tokens"]
    tally, window = Tally(), Window(sessions, duration)
    opening = time.perf_counter()
    tasks = [
        asyncio.ensure_future(
            _session(
                OPENERS[client],
                ready["url"],
                tokens[i % len(tokens)] if tokens else None,
                mode,
                tally=tally,
                window=window,
            )
        )
        for i in range(sessions)
    ]
    await window.start.wait()
    open_seconds = time.perf_counter() - opening
    _, pending = await asyncio.wait(tasks, timeout=duration + GRACE_SECONDS)
    for task in pending:  # a session stuck past the grace period: its call failed
        task.cancel()
        tally.failures["no answer within the grace period"] += 1
    calls = len(tally.latencies_ms)
    return {
        "client": client,
        "sessions": sessions,
        "duration_s": duration,
        "calls": calls,
        "calls_per_s": calls / duration,
        "p50_ms": percentile(tally.latencies_ms, 0.50),
        "p99_ms": percentile(tally.latencies_ms, 0.99),
        "max_ms": max(tally.latencies_ms, default=None),
        "failures": sum(tally.failures.values()),
        "failure_kinds": dict(tally.failures.most_common(5)),
        "open_failures": tally.open_failures,
        "open_p50_ms": percentile(tally.open_ms, 0.50),
        "open_all_s": open_seconds,
        "loadgen_cpu_s": _cpu_seconds(),
    }


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ready", type=Path, required=True, help="the server's ready file (url, tokens)")
    parser.add_argument("--mode", choices=("stateful", "stateless"), required=True)
    parser.add_argument("--sessions", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True)
    parser.add_argument("--client", choices=tuple(OPENERS), default="raw")
    args = parser.parse_args()
    ready = json.loads(args.ready.read_text())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        summary = runner.run(run(ready, args.mode, args.sessions, args.duration, args.client))
    print(json.dumps(summary))  # noqa: T201 -- the launcher reads this line


if __name__ == "__main__":
    main()
