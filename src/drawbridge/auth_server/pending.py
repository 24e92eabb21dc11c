"""An authorization request between /authorize and the code: stored server-side, looked up by an opaque id."""

from __future__ import annotations

from dataclasses import dataclass

from drawbridge.auth_server.clients import UnknownClient
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.models import Client
from drawbridge.storage.repositories import AuthorizationRequestRecord


@dataclass(frozen=True, slots=True)
class PendingRequest:
    """A stored authorization request and its client."""

    record: AuthorizationRequestRecord
    client: Client


async def load_pending(server: AuthServer, request_id: str | None) -> PendingRequest | None:
    """The unexpired request with this id and its (still valid) client, or None."""
    if not request_id or len(request_id) > 64 or "\x00" in request_id:
        return None
    record = await server.grants.get_request(request_id)
    if record is None or record.expires_at <= server.clock.now():
        return None
    try:
        client = await server.clients.get(record.client_id)
    except UnknownClient:
        return None
    return PendingRequest(record=record, client=client)
