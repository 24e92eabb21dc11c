"""``drawbridge serve``: run the server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from drawbridge.app import GuardLayers, build_app, build_components, guard_observer, output_masking, start
from drawbridge.cli.options import ConfigFile, DataDir, Dev, fail, settings_from
from drawbridge.errors import DrawbridgeError
from drawbridge.guard.access import AccessPolicy
from drawbridge.resource_server.stdio import stdio_server
from drawbridge.settings import Settings


def serve(
    *,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on \\[default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on \\[default: 8000].")] = None,
    public_url: Annotated[
        str | None, typer.Option(help="External https base URL, when behind a proxy or on another name.")
    ] = None,
    dev: Dev = False,
    ssl_certfile: Annotated[Path | None, typer.Option(help="PEM certificate: serve TLS directly.")] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="PEM private key for --ssl-certfile.")] = None,
    toolset: Annotated[
        str | None, typer.Option(help="module:function building the Toolset to serve \\[default: the demo].")
    ] = None,
    stdio: Annotated[
        bool, typer.Option("--stdio", help="Serve MCP on stdin/stdout for one local user (identity from \\[stdio]).")
    ] = False,
) -> None:
    """Serve the authorization server and the MCP endpoint (SQLite and fresh keys by default)."""
    settings = settings_from(
        config,
        data_dir,
        # stdio has no issuer or URLs; a placeholder keeps the https rule for HTTP serving intact.
        server__public_url=public_url or ("https://stdio.invalid" if stdio else None),
        server__host=host,
        server__port=port,
        server__dev=dev,
        server__ssl_certfile=ssl_certfile,
        server__ssl_keyfile=ssl_keyfile,
        mcp__toolset=toolset,
    )
    if stdio:
        asyncio.run(_serve_stdio(settings))
        return
    server = settings.server
    typer.echo(
        f"Drawbridge on {settings.base_url}\n"
        f"  MCP endpoint:          {settings.resource_url}\n"
        f"  authorization server:  {settings.issuer}/.well-known/oauth-authorization-server\n"
        f"  health:                {settings.base_url}/healthz\n"
        "  sign-in users:         drawbridge users add NAME --role support --password-stdin"
        f"{' --dev' if settings.server.dev else ''} --data-dir {settings.data_dir}",
        err=True,
    )
    if server.dev:
        typer.echo("WARNING: --dev is on: plain http and loopback client URLs allowed. Never in production.", err=True)
    try:
        app = build_app(settings)
    except DrawbridgeError as exc:  # a bad toolset, masking rule or policy: one line, exit 2
        fail(str(exc))
    uvicorn.run(
        app,
        host=server.host,
        port=server.port,
        ssl_certfile=str(server.ssl_certfile) if server.ssl_certfile else None,
        ssl_keyfile=str(server.ssl_keyfile) if server.ssl_keyfile else None,
        log_config=None,  # configure_logging owns the handlers
        proxy_headers=False,  # the app believes X-Forwarded-* from [server] trusted_proxies only
        server_header=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=server.keep_alive_seconds,  # type: ignore[arg-type]  # uvicorn accepts float seconds
        h11_max_incomplete_event_size=server.max_header_bytes,
        limit_concurrency=server.max_connections,
    )


async def _serve_stdio(settings: Settings) -> None:
    components = build_components(settings)
    try:
        await start(components)
        await components.audit.start()
        masking = output_masking(settings, components.toolset)
        policy = AccessPolicy(components.policy) if components.policy is not None else None
        observer = guard_observer(settings, GuardLayers(masking, policy, components.audit), components.clock)
        server = stdio_server(components.toolset, settings.stdio, masking=masking, policy=policy, observer=observer)
        try:
            await server.run_stdio_async()
        finally:
            await components.audit.stop()
            components.audit.dispose()
    finally:
        await components.engine.dispose()
