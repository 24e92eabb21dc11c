"""``drawbridge audit``: verify, read and purge the audit trail.

These commands open the database directly (no toolset, keys or policies are loaded), so they work on a copy of
the database too, and a broken tool configuration cannot stop an investigation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from drawbridge.audit import AuditQuery, AuditRecord, AuditStore, ChainBroken, Verification
from drawbridge.cli.options import ConfigFile, DataDir, Dev, fail, settings_from
from drawbridge.clock import SystemClock
from drawbridge.errors import DrawbridgeError
from drawbridge.identity import UserDirectory
from drawbridge.settings import Settings
from drawbridge.storage import migrate
from drawbridge.storage.database import create_engine
from drawbridge.storage.sql import SqlUserRepository
from drawbridge.telemetry.logging import configure_logging

T = TypeVar("T")

audit_app = typer.Typer(help="Verify, read and purge the audit trail.", no_args_is_help=True)

Stream = Annotated[
    str | None, typer.Option("--stream", help="Only this stream (default: every stream).", show_default=False)
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON lines (every column) instead of a table.")]
_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@audit_app.command("verify")
def verify(stream: Stream = None, config: ConfigFile = None, data_dir: DataDir = None, dev: Dev = False) -> None:
    """Recompute every hash and follow every link; exit 1 and print the first broken link of each broken stream.

    Keep the printed head hash somewhere else: a later verify against it also catches a consistently rewritten chain.
    """
    settings = settings_from(config, data_dir, server__dev=dev)
    result: Verification = _run(settings, lambda store, _users: store.verify(stream))
    for checked in result.streams:
        if checked.broken is None:
            typer.echo(
                f"ok: stream {checked.stream}: {checked.checked} rows after seq {checked.anchor_seq}, "
                f"head seq {checked.head_seq} hash {checked.head_hash}"
            )
    for broken in result.breaks:
        typer.echo(f"broken: stream {broken.stream} seq {broken.seq}: {broken.problem}: {broken.detail}")
    if not result.streams:
        typer.echo("ok: no audit events yet")
    if not result.ok:
        raise typer.Exit(code=1)


@audit_app.command("tail")
def tail(
    *,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="How many of the newest events.")] = 20,
    stream: Stream = None,
    as_json: AsJson = False,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    dev: Dev = False,
) -> None:
    """Print the newest events, oldest first."""
    settings = settings_from(config, data_dir, server__dev=dev)
    records = _run(settings, lambda store, _users: store.tail(lines, stream=stream))
    _print(records, as_json=as_json)


@audit_app.command("search")
def search(
    *,
    user: Annotated[
        str | None, typer.Option("--user", help="Username (looked up in the directory) or user id.", show_default=False)
    ] = None,
    client: Annotated[str | None, typer.Option("--client", help="client_id.", show_default=False)] = None,
    tool: Annotated[str | None, typer.Option("--tool", help="Tool name or resource URI.", show_default=False)] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Event kind, e.g. mcp.tools_call.", show_default=False)
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="From: ISO 8601 time (UTC unless it says), Unix seconds, or 30m/12h/7d ago."),
    ] = None,
    until: Annotated[str | None, typer.Option("--until", help="Before: same forms as --since.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=0, help="Newest matches to print; 0 prints all.")] = 100,
    stream: Stream = None,
    as_json: AsJson = False,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    dev: Dev = False,
) -> None:
    """Print the events matching every given filter, oldest first."""
    settings = settings_from(config, data_dir, server__dev=dev)
    now = SystemClock().now()
    query = AuditQuery(
        client_id=client,
        target=tool,
        kind=kind,
        stream=stream,
        since=_parse_time("--since", since, now),
        until=_parse_time("--until", until, now),
        limit=limit or None,
    )

    async def go(store: AuditStore, users: UserDirectory) -> list[AuditRecord]:
        if user is None:
            return await store.search(query)
        known = next((u for u in await users.list_users() if u.username == user), None)
        return await store.search(dataclasses.replace(query, user=known.id if known else user))

    _print(_run(settings, go), as_json=as_json)


@audit_app.command("purge")
def purge(
    older_than_days: Annotated[
        int | None,
        typer.Option(
            "--older-than-days", min=1, help="Age in days \\[default: audit.retention_days].", show_default=False
        ),
    ] = None,
    config: ConfigFile = None,
    data_dir: DataDir = None,
    dev: Dev = False,
) -> None:
    """Delete events older than the retention period, leaving an anchor so the rest still verifies.

    The rows about to go are verified first; a broken chain stops the purge (exit 1), so evidence is never purged.
    """
    settings = settings_from(config, data_dir, server__dev=dev)
    days = older_than_days or settings.audit.retention_days
    cut_off = SystemClock().now() - days * 86400
    try:
        anchors = _run(settings, lambda store, _users: store.purge(cut_off))
    except ChainBroken as exc:
        broken = exc.broken
        typer.echo(f"broken: stream {broken.stream} seq {broken.seq}: {broken.problem}: {broken.detail}")
        typer.echo("nothing more was purged; investigate with `drawbridge audit verify`", err=True)
        raise typer.Exit(code=1) from exc
    for anchor in anchors:
        typer.echo(f"purged {anchor.purged_rows} rows of stream {anchor.stream} up to seq {anchor.seq} ({anchor.hash})")
    if not anchors:
        typer.echo(f"nothing older than {days} days")


def _parse_time(option: str, value: str | None, now: float) -> float | None:
    if value is None:
        return None
    if relative := _RELATIVE.fullmatch(value):
        return now - float(relative.group(1)) * _UNITS[relative.group(2)]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        fail(f"invalid {option} {value!r}: use an ISO 8601 time, Unix seconds, or an age such as 30m, 12h, 7d")
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _print(records: list[AuditRecord], *, as_json: bool) -> None:
    if as_json:
        for record in records:
            typer.echo(json.dumps(record.as_dict(), sort_keys=True))
        return
    table = Table("time (UTC)", "seq", "kind", "user", "client", "target", "decision", "outcome", "ms")
    for record in records:
        event = record.event
        table.add_row(
            datetime.fromtimestamp(event.occurred_at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S"),
            f"{record.stream}:{record.seq}",
            event.kind,
            event.username or event.user_id or "",
            event.client_id or "",
            event.target or "",
            event.decision or "",
            event.outcome,
            "" if event.latency_ms is None else f"{event.latency_ms:.1f}",
        )
    Console().print(table)


def _run(settings: Settings, action: Callable[[AuditStore, UserDirectory], Awaitable[T]]) -> T:
    # stdout carries only the command's output; the default INFO chatter (migrations) is dropped unless DEBUG.
    level = "WARNING" if settings.logging.level == "INFO" else settings.logging.level
    configure_logging(settings.logging.model_copy(update={"level": level}))
    clock = SystemClock()

    async def go() -> T:
        engine = create_engine(settings.database_url, schema=settings.storage.schema_name)
        try:
            if settings.storage.migrate_on_start:
                await migrate.upgrade(engine)
            store = AuditStore(engine, clock=clock, retention_days=settings.audit.retention_days)
            return await action(store, UserDirectory(SqlUserRepository(engine), clock))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except ChainBroken:
        raise
    except DrawbridgeError as exc:
        fail(str(exc))
    except (SQLAlchemyError, OSError) as exc:
        fail(f"database unavailable ({type(exc).__name__})")
