"""``drawbridge config``: inspect the effective configuration."""

from __future__ import annotations

import json

import typer

from drawbridge.cli.options import ConfigFile, DataDir, Dev, settings_from
from drawbridge.settings import redacted

config_app = typer.Typer(help="Inspect configuration.", no_args_is_help=True)


@config_app.command("show")
def show(config: ConfigFile = None, data_dir: DataDir = None, dev: Dev = False) -> None:
    """Print the effective configuration as JSON, secrets redacted."""
    settings = settings_from(config, data_dir, server__dev=dev)
    typer.echo(json.dumps(redacted(settings), indent=2))
