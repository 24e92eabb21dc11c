"""Options every state-touching subcommand shares, and the one place the CLI turns them into settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from drawbridge.errors import DrawbridgeError
from drawbridge.settings import Settings, load_settings
from drawbridge.telemetry.logging import configure_logging

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Directory for the SQLite database and other state \\[default: ./drawbridge-data].",
        show_default=False,
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (also DRAWBRIDGE_CONFIG).", show_default=False),
]
Dev = Annotated[
    bool,
    typer.Option("--dev", help="Local development: http issuer, loopback client URLs. Never in production."),
]


def settings_from(config: Path | None, data_dir: Path | None, **overrides: Any) -> Settings:
    """Load settings from the file, the environment and these flag values, or exit 2 with one line."""
    nested: dict[str, Any] = {"data_dir": data_dir}
    for dotted, value in overrides.items():
        if value is None or value is False:
            continue  # an absent flag must not override the file or the environment
        section, _, key = dotted.partition("__")
        nested.setdefault(section, {})[key] = value
    try:
        settings = load_settings(config, os.environ, nested)
    except DrawbridgeError as exc:
        fail(str(exc))
    configure_logging(settings.logging)  # logs go to stderr, so stdout stays the command's output
    return settings


def fail(message: str) -> NoReturn:
    """Print one line to stderr and exit with status 2."""
    typer.echo(f"drawbridge: {message}", err=True)
    raise typer.Exit(code=2)
