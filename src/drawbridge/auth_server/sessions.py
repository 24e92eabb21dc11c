"""Browser login sessions: who is signed in to the authorization server."""

from __future__ import annotations

from starlette.requests import Request

from drawbridge.auth_server.context import AuthServer
from drawbridge.identity import User


async def signed_in_user(server: AuthServer, request: Request) -> User | None:
    """The enabled user whose unexpired session this request carries, if any."""
    id_hash = server.browser.session_id(request)
    if id_hash is None:
        return None
    session = await server.sessions.get_session(id_hash)
    if session is None or session.expires_at <= server.clock.now():
        return None
    user = await server.users.get(session.user_id)
    if user is None or user.disabled:
        return None
    return user
