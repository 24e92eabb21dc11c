"""The three HTTP servers the benchmark compares, one per process, plus the bare SDK over stdio.

``python bench/servers.py KIND MODE --ready FILE [--tokens N] [--data-dir DIR] [--variant NAME] [--tool db|memory]``

- ``drawbridge``: the demo toolset behind every layer (JWT auth, Cedar policy, masking, audit to SQLite), built
  by :func:`drawbridge.app.build_app` from :func:`drawbridge.settings.load_settings`; tokens are minted by the
  server's own issuer once its keys are loaded.
- ``sdk``: the official ``mcp`` SDK's ``MCPServer`` with no auth and the same tool.
- ``fastmcp``: FastMCP with its ``JWTVerifier`` (ES256); tokens are minted here with a key made at start-up.
- ``sdk-stdio``: the bare SDK server on stdin/stdout (MODE ignored), for the stdio comparison.

The tool is the demo's ``check_order_status`` in every server: ``--tool db`` (the default) runs the demo's own code
on the demo's seeded SQLite database (Drawbridge's in its data directory, the others' in theirs); ``--tool memory``
answers from constants everywhere (``static_demo``). ``--variant`` switches Drawbridge layers off for the cost
breakdown (:data:`VARIANTS`); the benchmark runs ``full``.

MODE is ``stateful`` (sessions, SSE responses: the SDK's defaults) or ``stateless`` (no sessions, JSON responses).
Every HTTP server listens on 127.0.0.1 on a port the OS picks, under uvicorn with the same settings (one worker,
uvloop, httptools, access log off), and once it accepts connections writes FILE: its URL, pid and tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import socket
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.types import ASGIApp
from static_demo import ORDER_2

from drawbridge.demo.tools import OrderStatusResult

if TYPE_CHECKING:
    from drawbridge.settings import Settings

KINDS = ("drawbridge", "sdk", "fastmcp")
MODES = ("stateful", "stateless")
TOOLS = ("db", "memory")
TOOL = "check_order_status"
CLIENT_ID = "https://bench.example/client.json"  # an https client_id: verified, as a CIMD client would be
SCOPE = "orders:read"
ISSUER = "https://bench.example/issuer"

Started = Callable[[], Awaitable[list[str]]]


Tool = Callable[[int], Awaitable[OrderStatusResult]]


def _order_tool(args: argparse.Namespace) -> tuple[Tool, Callable[[], Awaitable[None]]]:
    """``check_order_status`` for the SDK and FastMCP servers, and what to run before serving.

    ``--tool db`` (the default): the demo's own code reading the demo's seeded SQLite database, so every server runs
    the same tool and the comparison measures the layers around it. ``--tool memory``: constants, no database.
    """
    if args.tool == "memory":

        async def from_memory(order_id: int) -> OrderStatusResult:
            """Look up where one order is: its status, dates, item count, total and tracking number."""
            return ORDER_2.model_copy(update={"order_id": order_id})

        async def nothing() -> None:
            return None

        return _named(from_memory), nothing

    from drawbridge.clock import SystemClock
    from drawbridge.demo import DemoStore
    from drawbridge.demo.tools import order_status
    from drawbridge.storage.database import Reader, create_engine

    engine = create_engine(f"sqlite+aiosqlite:///{args.data_dir / 'demo.sqlite'}")
    store = DemoStore(engine, SystemClock(), Reader(engine))

    async def from_database(order_id: int) -> OrderStatusResult:
        """Look up where one order is: its status, dates, item count, total and tracking number."""
        return await order_status(store, order_id)

    async def prepare() -> None:
        await store.ensure_schema()
        await engine.dispose()  # seeding used aiosqlite; reads go through the Reader's own connections

    return _named(from_database), prepare


def _named(function: Tool) -> Tool:
    function.__name__ = TOOL  # the SDKs name a tool after its function
    return function


def _sdk(mode: str, port: int, args: argparse.Namespace) -> tuple[ASGIApp, Started]:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.transport_security import TransportSecuritySettings

    tool, prepare = _order_tool(args)
    server = MCPServer("bench-sdk", log_level="WARNING")
    server.tool()(tool)
    app = server.streamable_http_app(
        json_response=mode == "stateless",
        stateless_http=mode == "stateless",
        transport_security=TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=[f"127.0.0.1:{port}"], allowed_origins=[]
        ),
    )

    async def started() -> list[str]:
        await prepare()
        return []

    return app, started


def _fastmcp(mode: str, port: int, args: argparse.Namespace) -> tuple[ASGIApp, Started]:
    from fastmcp import FastMCP
    from fastmcp.server.auth.providers.jwt import JWTVerifier
    from joserfc import jwt
    from joserfc.jwk import ECKey

    key = ECKey.generate_key("P-256", private=True)
    audience = f"http://127.0.0.1:{port}/mcp"
    auth = JWTVerifier(
        public_key=key.as_pem(private=False).decode(),
        issuer=ISSUER,
        audience=audience,
        algorithm="ES256",
        required_scopes=[SCOPE],
    )
    tool, prepare = _order_tool(args)
    server = FastMCP("bench-fastmcp", auth=auth)
    server.tool(tool)
    app = server.http_app(path="/mcp", stateless_http=mode == "stateless", json_response=mode == "stateless")

    async def started() -> list[str]:
        await prepare()
        now = int(time.time())  # noqa: TID251 -- a JWT's iat and exp are wall-clock times
        return [
            jwt.encode(
                {"alg": "ES256", "kid": "bench"},
                {
                    "iss": ISSUER,
                    "aud": audience,
                    "sub": f"bench-user-{i}",
                    "client_id": CLIENT_ID,
                    "scope": SCOPE,
                    "iat": now,
                    "exp": now + 3600,
                    "jti": uuid.uuid4().hex,
                },
                key,
            )
            for i in range(args.tokens)
        ]

    return app, started


# Drawbridge variants for the cost breakdown (bench/profile_server.py); the benchmark itself runs "full".
_STATIC_TOOL = {"mcp": {"toolset": "static_demo:toolset"}}
VARIANTS: dict[str, dict[str, Any]] = {
    "full": {},
    # Every layer on; the demo tool and its policy target loader answer from memory instead of SQLite.
    "static-tool": _STATIC_TOOL,
    "static-tool, no policy": _STATIC_TOOL | {"policy": {"enabled": False}},
    "static-tool, no masking": _STATIC_TOOL | {"masking": {"enabled": False}},
    "static-tool, no rate limits": _STATIC_TOOL | {"rate_limits": {"enabled": False}},
    # What cannot be switched off: JWT auth, the guard's validation, the audit trail, the edge middleware.
    "static-tool, auth and audit only": _STATIC_TOOL
    | {"policy": {"enabled": False}, "masking": {"enabled": False}, "rate_limits": {"enabled": False}},
}


def _drawbridge_settings(mode: str, port: int, args: argparse.Namespace) -> Settings:
    from drawbridge.settings import load_settings

    overrides: dict[str, Any] = {
        "data_dir": str(args.data_dir),
        "server": {"dev": True, "host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
        "mcp": {"toolset": "drawbridge.demo:toolset", "stateless": mode == "stateless"}
        | {"json_response": mode == "stateless"},
        # As the test suite: EC keys and argon2 at its minimum cost only make start-up cheap.
        "keys": {"algorithm": "ES256"},
        "identity": {"argon2_time_cost": 1, "argon2_memory_kib": 1024, "argon2_parallelism": 1},
        "tokens": {"access_token_ttl": 3600},
        # The limiter stays on (its cost is measured) with limits no benchmark session reaches: the defaults
        # (600/minute per user) would answer a single session's back-to-back calls with 429.
        "rate_limits": {"mcp_per_user": "1000000/minute", "mcp_per_client": "10000000/minute"},
    }
    if args.tool == "memory":
        overrides["mcp"]["toolset"] = _STATIC_TOOL["mcp"]["toolset"]
    for section, values in VARIANTS[args.variant].items():
        overrides[section] = overrides.get(section, {}) | values
    return load_settings(None, {}, overrides)


def _drawbridge(mode: str, port: int, args: argparse.Namespace) -> tuple[ASGIApp, Started]:
    from drawbridge.app import build_app
    from drawbridge.telemetry.logging import configure_logging

    settings = _drawbridge_settings(mode, port, args)
    configure_logging(settings.logging)  # as `drawbridge serve`: structured logs at INFO, to stderr
    app = build_app(settings)
    components = app.state.components

    async def started() -> list[str]:
        return [
            components.auth_server.tokens.mint(
                subject=f"bench-user-{i}",
                audience=settings.resource_url,
                client_id=CLIENT_ID,
                scopes=(SCOPE,),
                extra={"roles": ["support"]},
            )[0]
            for i in range(args.tokens)
        ]

    return app, started


_BUILDERS = {"drawbridge": _drawbridge, "sdk": _sdk, "fastmcp": _fastmcp}


class _AnnouncingServer(uvicorn.Server):
    """A uvicorn server that runs a callback once it accepts connections (the launcher waits for it)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.should_exit:
            await self._on_started()


def serve_http(kind: str, mode: str, args: argparse.Namespace) -> None:
    """Build ``kind`` in ``mode`` and serve it until SIGTERM/SIGINT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # loopback only; the OS picks the port
    port = sock.getsockname()[1]
    app, started = _BUILDERS[kind](mode, port, args)
    config = uvicorn.Config(
        app, loop="uvloop", http="httptools", log_level="warning", access_log=False, lifespan="on", workers=1
    )

    async def on_started() -> None:
        tokens = await started()
        ready = {"url": f"http://127.0.0.1:{port}/mcp", "pid": os.getpid(), "kind": kind, "mode": mode}
        tmp = args.ready.with_suffix(".tmp")
        tmp.write_text(json.dumps(ready | {"tokens": tokens}))
        tmp.rename(args.ready)  # atomically: the launcher never reads half a file

    server = _AnnouncingServer(config, on_started)
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(server.serve(sockets=[sock]))


def serve_sdk_stdio(args: argparse.Namespace) -> None:
    """The bare SDK server over stdin/stdout (the stdio comparison's reference)."""
    from mcp.server.mcpserver import MCPServer

    tool, prepare = _order_tool(args)
    asyncio.run(prepare())
    server = MCPServer("bench-sdk-stdio", log_level="WARNING")
    server.tool()(tool)
    server.run("stdio")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=[*KINDS, "sdk-stdio"])
    parser.add_argument("mode", choices=MODES)
    parser.add_argument("--ready", type=Path, help="file to write {url, pid, tokens} to once serving")
    parser.add_argument("--tokens", type=int, default=0, help="bearer tokens to mint (one per session)")
    parser.add_argument("--data-dir", type=Path, help="Drawbridge's data directory (SQLite, audit)")
    parser.add_argument("--variant", choices=tuple(VARIANTS), default="full", help="Drawbridge layers switched off")
    parser.add_argument(
        "--tool", choices=TOOLS, default="db", help="db: the demo's tool on its SQLite database [default]; memory"
    )
    args = parser.parse_args()
    logging.getLogger("mcp").setLevel(logging.WARNING)
    if args.kind == "sdk-stdio":
        serve_sdk_stdio(args)
        return
    if args.ready is None:
        sys.exit("--ready is required for HTTP servers")
    serve_http(args.kind, args.mode, args)


if __name__ == "__main__":
    main()
