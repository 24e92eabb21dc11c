"""``drawbridge consents``: see and revoke what users granted to clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated

import typer

from drawbridge.app import Components, build_components, start
from drawbridge.cli.options import ConfigFile, DataDir, Dev, fail, settings_from
from drawbridge.identity import User
from drawbridge.settings import Settings

consents_app = typer.Typer(help="See and revoke remembered consents.", no_args_is_help=True)

Username = Annotated[str, typer.Argument(metavar="NAME", help="The user's login name.", show_default=False)]


@consents_app.command("list")
def list_consents(username: Username, config: ConfigFile = None, data_dir: DataDir = None, dev: Dev = False) -> None:
    """Print the user's remembered consents as JSON lines (client_id, scope, granted_at)."""
    settings = settings_from(config, data_dir, server__dev=dev)

    async def go(components: Components, user: User) -> None:
        for consent in await components.auth_server.sessions.list_consents(user.id):
            row = {"client_id": consent.client_id, "scope": consent.scope, "granted_at": consent.granted_at}
            typer.echo(json.dumps(row))

    _run(settings, username, go)


@consents_app.command("revoke")
def revoke(
    username: Username,
    client_id: Annotated[str, typer.Argument(metavar="CLIENT_ID", help="The client to revoke.", show_default=False)],
    config: ConfigFile = None,
    data_dir: DataDir = None,
    dev: Dev = False,
) -> None:
    """Forget the user's consent for a client and revoke the refresh tokens it holds for the user.

    Access tokens already issued stay valid until they expire (at most tokens.access_token_ttl seconds).
    """
    settings = settings_from(config, data_dir, server__dev=dev)

    async def go(components: Components, user: User) -> None:
        server = components.auth_server
        forgotten = await server.sessions.delete_consent(user.id, client_id)
        families = await server.grants.revoke_families_of(user.id, client_id, components.clock.now())
        if not forgotten and not families:
            fail(f"{username} has no consent or tokens for {client_id}")
        await components.audit.start()
        try:
            await server.audit.record(
                "auth.consent_revoked",
                user_id=user.id,
                username=user.username,
                client_id=client_id,
                detail={"refresh_families_revoked": families, "by": "cli"},
            )
        finally:
            await components.audit.stop()
        typer.echo(f"revoked: consent {'forgotten' if forgotten else 'absent'}, {families} refresh token famil(ies)")

    _run(settings, username, go)


def _run(settings: Settings, username: str, action: Callable[[Components, User], Awaitable[None]]) -> None:
    async def main() -> None:
        components = build_components(settings)
        try:
            await start(components)
            user = next((u for u in await components.users.list_users() if u.username == username), None)
            if user is None:
                fail(f"no user named {username!r}")
            await action(components, user)
        finally:
            await components.engine.dispose()

    asyncio.run(main())
