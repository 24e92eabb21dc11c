"""The consent page: the user sees who is asking, where the answer goes, and grants some or all scopes.

Threats: a client impersonating another by name (the page says whether its identity is verified by a CIMD host
or unverified, and always shows the redirect URI's host: MCP CIMD MUST); clickjacking (no framing); CSRF (double
-submit token, Origin check); double submission (the pending request is deleted atomically: only one code).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from drawbridge.auth_server.authorize import error_page, error_redirect, issue_code, remember_consent
from drawbridge.auth_server.context import AuthServer
from drawbridge.auth_server.errors import AccessDenied, InvalidRequest
from drawbridge.auth_server.pending import PendingRequest, load_pending
from drawbridge.auth_server.redirect_uris import LOOPBACK_HOSTS
from drawbridge.auth_server.sessions import signed_in_user
from drawbridge.identity import User

_EXPIRED = "this sign-in request has expired or was already answered"


class ConsentEndpoint:
    """``GET``/``POST /consent``."""

    def __init__(self, server: AuthServer) -> None:
        self._server = server

    async def show(self, request: Request) -> Response:
        pending = await load_pending(self._server, request.query_params.get("request"))
        if pending is None:
            return error_page(self._server, request, InvalidRequest(_EXPIRED))
        user = await signed_in_user(self._server, request)
        if user is None:
            return RedirectResponse(f"/login?{urlencode({'request': pending.record.id})}", status_code=303)
        requested = pending.record.scope.split()
        remembered = await self._server.sessions.get_consent(user.id, pending.client.client_id)
        if remembered and set(requested) <= set(remembered.scope.split()):
            if not await self._server.grants.delete_request(pending.record.id):
                return error_page(self._server, request, InvalidRequest(_EXPIRED))
            return await issue_code(self._server, pending.record, user.id, requested)
        return self._page(request, pending, user)

    async def submit(self, request: Request) -> Response:
        raw = await request.form(max_files=0, max_fields=50)
        form = {k: v for k, v in raw.items() if isinstance(v, str)}
        pending = await load_pending(self._server, form.get("request"))
        if pending is None:
            return error_page(self._server, request, InvalidRequest(_EXPIRED))
        if not self._server.browser.csrf_ok(request, form):
            return error_page(self._server, request, InvalidRequest("the form was not submitted from this site"), 403)
        user = await signed_in_user(self._server, request)
        if user is None:
            return RedirectResponse(f"/login?{urlencode({'request': pending.record.id})}", status_code=303)
        if not await self._server.grants.delete_request(pending.record.id):
            return error_page(self._server, request, InvalidRequest(_EXPIRED))
        record = pending.record
        requested = record.scope.split()
        granted = [s for s in requested if s in raw.getlist("scope")]
        if form.get("action") != "approve" or not granted:
            await self._server.audit.record(
                "auth.consent_granted",
                user_id=user.id,
                username=user.username,
                client_id=pending.client.client_id,
                client_kind=pending.client.kind,
                outcome="denied",
                reason="user_denied",
                detail={"requested": requested},
            )
            denied = AccessDenied("the user denied the request")
            return RedirectResponse(error_redirect(self._server, record.redirect_uri, denied, record.state), 303)
        await remember_consent(self._server, user.id, pending.client.client_id, granted)
        await self._server.audit.record(
            "auth.consent_granted",
            user_id=user.id,
            username=user.username,
            client_id=pending.client.client_id,
            client_kind=pending.client.kind,
            detail={"granted": granted, "requested": requested},
        )
        return await issue_code(self._server, record, user.id, granted)

    def _page(self, request: Request, pending: PendingRequest, user: User) -> Response:
        descriptions = self._server.config.scope_descriptions
        redirect_host = urlsplit(pending.record.redirect_uri).hostname or pending.record.redirect_uri
        return self._server.browser.render(
            request,
            "consent.html",
            {
                "client_name": pending.client.display_name,
                "verified_origin": pending.client.verified_origin,
                "redirect_host": redirect_host,
                "loopback": redirect_host in LOOPBACK_HOSTS or redirect_host == "::1",
                "resource": pending.record.resource,
                "username": user.username,
                "request_id": pending.record.id,
                "scopes": [
                    {"name": s, "description": descriptions.get(s, f"use {s}")} for s in pending.record.scope.split()
                ],
            },
            form_targets=(pending.record.redirect_uri,),
        )
