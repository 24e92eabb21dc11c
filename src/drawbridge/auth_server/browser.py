"""What the login and consent pages share: cookies, CSRF, page rendering and their security headers.

Threats: session theft (cookies are ``__Host-``, ``Secure``, ``HttpOnly``, ``SameSite=Lax``; only a hash of the
session id is stored); cross-site form posts (double-submit CSRF token plus an Origin check); clickjacking of the
consent page (``frame-ancestors 'none'`` and ``X-Frame-Options: DENY``); script injection through client-supplied
names and URIs (Jinja2 autoescaping, and a CSP that allows no script at all); cached pages with tokens
(``no-store``). Plain-http ``--dev`` drops ``Secure`` and the ``__Host-`` prefix, which browsers require together.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from drawbridge.auth_server.digests import digest

CSRF_FIELD = "csrf_token"


class Browser:
    """Cookies, CSRF tokens and page rendering for the interactive endpoints."""

    def __init__(self, *, secure: bool, issuer: str) -> None:
        self._secure = secure
        prefix = "__Host-" if secure else ""
        self.session_cookie = f"{prefix}drawbridge_session"
        self.csrf_cookie = f"{prefix}drawbridge_csrf"
        self._origin = _origin(issuer)
        self._templates = Environment(
            loader=FileSystemLoader(Path(__file__).parent / "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
        )

    def render(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        status_code: int = 200,
        form_targets: tuple[str, ...] = (),
    ) -> HTMLResponse:
        """Render a page with a fresh CSP nonce and the CSRF token (set as a cookie when new).

        ``form_targets`` are extra origins a form submission may end up at (the client's redirect URI): browsers
        apply ``form-action`` to the redirects that follow a form post.
        """
        nonce = secrets.token_urlsafe(16)
        csrf = request.cookies.get(self.csrf_cookie) or secrets.token_urlsafe(32)
        body = self._templates.get_template(template).render(**context, csrf_token=csrf, nonce=nonce)
        response = HTMLResponse(body, status_code=status_code)
        form_action = " ".join(["'self'", *(_form_target(t) for t in form_targets)])
        response.headers.update(
            {
                "Content-Security-Policy": (
                    f"default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self'; "
                    f"form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
                ),
                "X-Frame-Options": "DENY",
                "Cache-Control": "no-store",
                "Pragma": "no-cache",
                "Referrer-Policy": "no-referrer",
                "X-Content-Type-Options": "nosniff",
            }
        )
        if request.cookies.get(self.csrf_cookie) != csrf:
            self._set_cookie(response, self.csrf_cookie, csrf, max_age=None)
        return response

    def csrf_ok(self, request: Request, form: dict[str, str]) -> bool:
        """True when the form's token equals the cookie's and any Origin header is ours."""
        origin = request.headers.get("origin")
        if origin is not None and origin != self._origin:
            return False
        cookie = request.cookies.get(self.csrf_cookie, "")
        submitted = form.get(CSRF_FIELD, "")
        return bool(cookie) and hmac.compare_digest(cookie.encode(), submitted.encode())

    def session_id(self, request: Request) -> str | None:
        """The hash under which the request's session is stored, if it carries a session cookie."""
        value = request.cookies.get(self.session_cookie)
        return digest(value) if value else None

    def start_session(self, response: Response, *, max_age: int) -> str:
        """Set a new session cookie; return the hash to store."""
        value = secrets.token_urlsafe(32)
        self._set_cookie(response, self.session_cookie, value, max_age=max_age)
        return digest(value)

    def _set_cookie(self, response: Response, name: str, value: str, *, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", secure=self._secure, httponly=True, samesite="lax")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _form_target(uri: str) -> str:
    parts = urlsplit(uri)
    if parts.scheme in ("http", "https"):
        return f"{parts.scheme}://{parts.netloc}"
    return f"{parts.scheme}:"
