"""``drawbridge users``: manage the built-in user directory."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from drawbridge.app import build_components, start
from drawbridge.cli.options import ConfigFile, DataDir, Dev, fail, settings_from
from drawbridge.errors import DrawbridgeError
from drawbridge.identity import User, UserDirectory
from drawbridge.settings import Settings
from drawbridge.storage.sql import SqlUserRepository
from drawbridge.telemetry.logging import configure_logging

T = TypeVar("T")

users_app = typer.Typer(help="Manage users of the built-in directory.", no_args_is_help=True)

Username = Annotated[str, typer.Argument(metavar="NAME", help="The user's login name.", show_default=False)]


@users_app.command("add")
def add(
    username: Username,
    *,
    role: Annotated[
        list[str] | None, typer.Option("--role", help="A role to grant; repeat for several.", show_default=False)
    ] = None,
    group: Annotated[
        list[str] | None,
        typer.Option(
            "--group", help="A group to join (policies see principal.groups); repeat for several.", show_default=False
        ),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin instead of prompting for it.")
    ] = False,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    dev: Dev = False,
) -> None:
    """Add a user and print its id.

    The password never goes on the command line, where other local users could read it from the process list.
    """
    settings = settings_from(config, data_dir, server__dev=dev)
    password = _password_from_stdin() if password_stdin else _prompt_password()
    user = _run(settings, lambda directory: directory.add_user(username, password, role or [], group or []))
    typer.echo(user.id)


@users_app.command("list")
def list_users(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines instead of a table.")] = False,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    dev: Dev = False,
) -> None:
    """List users: username, roles, groups, whether disabled, id."""
    settings = settings_from(config, data_dir, server__dev=dev)
    users = _run(settings, lambda directory: directory.list_users())
    if as_json:
        for user in users:
            typer.echo(json.dumps(dataclasses.asdict(user)))
        return
    Console().print(_table(users))


@users_app.command("disable")
def disable(username: Username, config: ConfigFile = None, data_dir: DataDir = None, dev: Dev = False) -> None:
    """Refuse the user's future logins (the account and its id stay)."""
    settings = settings_from(config, data_dir, server__dev=dev)
    _run(settings, lambda directory: directory.set_disabled(username, True))
    typer.echo(f"disabled {username}")


@users_app.command("enable")
def enable(username: Username, config: ConfigFile = None, data_dir: DataDir = None, dev: Dev = False) -> None:
    """Allow a disabled user to log in again."""
    settings = settings_from(config, data_dir, server__dev=dev)
    _run(settings, lambda directory: directory.set_disabled(username, False))
    typer.echo(f"enabled {username}")


def _password_from_stdin() -> str:
    # `echo secret | drawbridge users add ...` appends one newline that is not part of the password.
    password = sys.stdin.read()
    return password.removesuffix("\n").removesuffix("\r") if password.endswith("\n") else password


def _prompt_password() -> str:
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


def _table(users: list[User]) -> Table:
    table = Table("username", "roles", "groups", "disabled")
    table.add_column("id", no_wrap=True, min_width=32)  # ids are copied from here: never cut
    for user in users:
        disabled = "yes" if user.disabled else "no"
        table.add_row(user.username, ", ".join(user.roles), ", ".join(user.groups), disabled, user.id)
    return table


def _run(settings: Settings, action: Callable[[UserDirectory], Awaitable[T]]) -> T:
    # Logs go to stderr so stdout carries only the command's output. A one-shot command reports its result
    # there, so the default INFO chatter (migrations, key loading) is dropped unless DEBUG is asked for.
    level = "WARNING" if settings.logging.level == "INFO" else settings.logging.level
    configure_logging(settings.logging.model_copy(update={"level": level}))

    async def go() -> T:
        components = build_components(settings)
        try:
            await start(components)
            return await action(UserDirectory(SqlUserRepository(components.engine), components.clock))
        finally:
            await components.engine.dispose()

    try:
        return asyncio.run(go())
    except DrawbridgeError as exc:
        fail(str(exc))
