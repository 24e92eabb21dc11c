"""The login page: username and password against the built-in user directory.

Threats: credential stuffing (rate limited at the edge), user enumeration (one generic message; the
directory spends the same argon2 work on unknown users), CSRF login (double-submit token), session fixation
(a new session id is issued at every login).
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from drawbridge.auth_server.authorize import error_page
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.errors import InvalidRequest
from drawbridge.auth_server.pending import PendingRequest, load_pending
from drawbridge.storage.repositories import LoginSessionRecord

_MAX_FIELD = 1024


class LoginEndpoint:
    """``GET``/``POST /login``."""

    def __init__(self, server: AuthServer) -> None:
        self._server = server

    async def show(self, request: Request) -> Response:
        pending = await load_pending(self._server, request.query_params.get("request"))
        if pending is None:
            return error_page(self._server, request, InvalidRequest("this sign-in request has expired or is unknown"))
        return self._page(request, pending, username="", error=None)

    async def submit(self, request: Request) -> Response:
        form = {k: v for k, v in (await request.form(max_files=0, max_fields=20)).items() if isinstance(v, str)}
        pending = await load_pending(self._server, form.get("request"))
        if pending is None:
            return error_page(self._server, request, InvalidRequest("this sign-in request has expired or is unknown"))
        if not self._server.browser.csrf_ok(request, form):
            return error_page(self._server, request, InvalidRequest("the form was not submitted from this site"), 403)
        username, password = form.get("username", ""), form.get("password", "")
        # Over-long input is wrong, never truncated (truncation would accept the password plus any suffix).
        plausible = 0 < len(username) <= _MAX_FIELD and 0 < len(password) <= _MAX_FIELD and "\x00" not in username
        user = await self._server.users.authenticate(username, password) if plausible else None
        if user is None:
            shown = username[:_MAX_FIELD]
            await self._server.audit.record(
                "auth.login_failed",
                username=shown,
                client_id=pending.client.client_id,
                outcome="denied",
                reason="bad_credentials" if plausible else "malformed",
            )
            return self._page(request, pending, username=shown, error="Wrong username or password.", status=401)
        await self._server.audit.record(
            "auth.login_succeeded",
            user_id=user.id,
            username=user.username,
            client_id=pending.client.client_id,
            client_kind=pending.client.kind,
        )
        response = RedirectResponse(f"/consent?{urlencode({'request': pending.record.id})}", status_code=303)
        now = self._server.clock.now()
        ttl = self._server.config.session_ttl
        old = self._server.browser.session_id(request)
        if old:
            await self._server.sessions.delete_session(old)
        id_hash = self._server.browser.start_session(response, max_age=ttl)
        await self._server.sessions.add_session(
            LoginSessionRecord(id_hash=id_hash, user_id=user.id, created_at=now, expires_at=now + ttl)
        )
        return response

    def _page(
        self, request: Request, pending: PendingRequest, *, username: str, error: str | None, status: int = 200
    ) -> Response:
        return self._server.browser.render(
            request,
            "login.html",
            {
                "client_name": pending.client.display_name,
                "request_id": pending.record.id,
                "username": username,
                "error": error,
            },
            status_code=status,
            form_targets=(pending.record.redirect_uri,),
        )
