"""``drawbridge keys``: list and rotate signing keys."""

from __future__ import annotations

import asyncio
import json

import typer

from drawbridge.app import build_components, start
from drawbridge.cli.options import ConfigFile, DataDir, Dev, fail, settings_from
from drawbridge.keys import KeyStoreError
from drawbridge.settings import Settings

keys_app = typer.Typer(help="Manage token signing keys.", no_args_is_help=True)


@keys_app.command("list")
def list_keys(config: ConfigFile = None, data_dir: DataDir = None, dev: Dev = False) -> None:
    """List signing keys as JSON lines: which signs, which are still published in the JWKS."""
    settings = settings_from(config, data_dir, server__dev=dev)
    for row in _run(settings, rotate=False):
        typer.echo(json.dumps(row))


@keys_app.command("rotate")
def rotate(config: ConfigFile = None, data_dir: DataDir = None, dev: Dev = False) -> None:
    """Generate a new signing key; older keys stay in the JWKS until tokens they signed have expired.

    Running servers pick the new key up when they next reload keys (on restart, or on an unknown kid).
    """
    settings = settings_from(config, data_dir, server__dev=dev)
    rows = _run(settings, rotate=True)
    typer.echo(f"new signing key: {rows[0]['kid']}")


def _run(settings: Settings, *, rotate: bool) -> list[dict[str, object]]:
    async def go() -> list[dict[str, object]]:
        components = build_components(settings)
        try:
            await start(components)
            if rotate:
                await components.keys.rotate()
            return components.keys.describe()
        finally:
            await components.engine.dispose()

    try:
        return asyncio.run(go())
    except KeyStoreError as exc:
        fail(str(exc))
