"""Periodic clean-up: expired requests, codes, refresh tokens, revocation rows and sessions, and registrations
that were never used (the growing-registrations problem of open DCR)."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.exc import SQLAlchemyError

from drawbridge.auth_server.context import AuthServer
from drawbridge.storage.repositories import ClientRepository

log = structlog.get_logger(__name__)


async def purge_once(server: AuthServer, clients: ClientRepository, *, unused_client_ttl: int) -> int:
    """Delete what has expired; return how many rows went."""
    now = server.clock.now()
    removed = await server.grants.purge_expired(now)
    removed += await server.sessions.purge_expired_sessions(now)
    removed += await clients.delete_unused_before(now - unused_client_ttl)
    return removed


async def run_housekeeping(
    server: AuthServer, clients: ClientRepository, *, unused_client_ttl: int, interval: float = 600
) -> None:
    """Purge every ``interval`` seconds until cancelled; a failed round is logged and retried next time."""
    while True:
        try:
            removed = await purge_once(server, clients, unused_client_ttl=unused_client_ttl)
            if removed:
                log.info("housekeeping_purged", rows=removed)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("housekeeping_failed", error=type(exc).__name__)
        await asyncio.sleep(interval)
