"""A scripted user agent and client for the authorization server: real HTTP, real pages, real cookies."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from drawbridge.identity import UserDirectory
from drawbridge.settings import Settings
from drawbridge.storage import tables
from drawbridge.storage.database import create_engine
from drawbridge.storage.sql import SqlUserRepository
from drawbridge.testing import FrozenClock

REDIRECT_URI = "http://127.0.0.1:9999/callback"
PASSWORD = "correct horse battery"
# The parameters the test servers use (tests/conftest.py): a login then needs no rehash.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def hidden_fields(page: str) -> dict[str, str]:
    return {
        m[1]: html.unescape(m[2]) for m in re.finditer(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def add_user(
    settings: Settings, clock: FrozenClock, username: str, roles: tuple[str, ...] = (), groups: tuple[str, ...] = ()
) -> str:
    """Create a user directly in the server's database; return its id."""
    engine: AsyncEngine = create_engine(settings.database_url, schema=settings.storage.schema_name)
    try:
        user = await UserDirectory(SqlUserRepository(engine), clock, hasher=CHEAP_HASHER).add_user(
            username, PASSWORD, roles, groups
        )
    finally:
        await engine.dispose()
    return user.id


@dataclass
class Flow:
    """One client's journey through /authorize, /login, /consent and /token."""

    http: httpx.AsyncClient
    resource: str
    client_id: str = ""
    client_secret: str | None = None
    redirect_uri: str = REDIRECT_URI
    verifier: str = ""
    state: str = field(default_factory=lambda: secrets.token_urlsafe(8))

    async def register(self, **metadata: Any) -> dict[str, Any]:
        body = {"redirect_uris": [self.redirect_uri], "token_endpoint_auth_method": "none", **metadata}
        response = await self.http.post("/register", json=body)
        assert response.status_code == 201, response.text
        registered: dict[str, Any] = response.json()
        self.client_id = registered["client_id"]
        self.client_secret = registered.get("client_secret")
        return registered

    def authorize_params(self, **overrides: str | None) -> dict[str, str]:
        self.verifier, challenge = pkce_pair()
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": self.state,
            "resource": self.resource,
            "scope": "orders:read customers:read",
            **overrides,
        }
        return {k: v for k, v in params.items() if v is not None}

    async def authorize(self, **overrides: str | None) -> httpx.Response:
        return await self.http.get("/authorize", params=self.authorize_params(**overrides))

    async def login(self, page_url: str, username: str, password: str = PASSWORD) -> httpx.Response:
        page = await self.http.get(page_url)
        assert page.status_code == 200, page.text
        fields = {**hidden_fields(page.text), "username": username, "password": password}
        return await self.http.post("/login", data=fields)

    async def consent(self, page_url: str, scopes: list[str] | None = None, action: str = "approve") -> httpx.Response:
        page = await self.http.get(page_url)
        if page.status_code == 303:
            return page  # consent remembered: the code is issued straight away
        assert page.status_code == 200, page.text
        offered = re.findall(r'name="scope" value="([^"]+)"', page.text)
        fields: dict[str, Any] = {**hidden_fields(page.text), "action": action}
        fields["scope"] = offered if scopes is None else scopes
        return await self.http.post("/consent", data=fields)

    async def code_via_login(self, username: str, **overrides: str | None) -> str:
        """Authorize, sign in, approve; return the code from the redirect."""
        response = await self.authorize(**overrides)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        if location.startswith("/login"):
            response = await self.login(location, username)
            assert response.status_code == 303, response.text
            location = response.headers["location"]
        response = await self.consent(location)
        assert response.status_code == 303, response.text
        params = query_of(response.headers["location"])
        assert params.get("state") == self.state
        return params["code"]

    async def token(self, **form: str) -> httpx.Response:
        data = {"client_id": self.client_id, **form}
        auth = None
        if self.client_secret:
            auth = httpx.BasicAuth(self.client_id, self.client_secret)
            data.pop("client_id")
        return await self.http.post("/token", data=data, auth=auth)

    async def redeem(self, code: str, **extra: str) -> httpx.Response:
        fields = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
            "resource": self.resource,
            **extra,
        }
        return await self.token(**fields)

    async def sign_in(self, username: str, **overrides: str | None) -> dict[str, Any]:
        """Authorize, sign in, approve and redeem the code; return the token response body."""
        response = await self.redeem(await self.code_via_login(username, **overrides))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def refresh(self, refresh_token: str, **extra: str) -> httpx.Response:
        return await self.token(grant_type="refresh_token", refresh_token=refresh_token, **extra)

    async def back_channel(self, path: str, **form: str) -> httpx.Response:
        """POST a form to a back-channel endpoint (/revoke, /introspect) authenticated like :meth:`token`."""
        if self.client_secret:
            return await self.http.post(path, data=form, auth=httpx.BasicAuth(self.client_id, self.client_secret))
        return await self.http.post(path, data={"client_id": self.client_id, **form})

    async def revoke(self, token: str, **extra: str) -> httpx.Response:
        return await self.back_channel("/revoke", token=token, **extra)

    async def introspect(self, token: str, **extra: str) -> httpx.Response:
        return await self.back_channel("/introspect", token=token, **extra)


async def set_disabled(settings: Settings, clock: FrozenClock, username: str, disabled: bool = True) -> None:
    """Disable (or re-enable) a user directly in the server's database."""
    engine: AsyncEngine = create_engine(settings.database_url, schema=settings.storage.schema_name)
    try:
        await UserDirectory(SqlUserRepository(engine), clock, hasher=CHEAP_HASHER).set_disabled(username, disabled)
    finally:
        await engine.dispose()


def authorize_url_query(params: dict[str, str]) -> str:
    return urlencode(params)


async def count_rows(settings: Settings, table: str) -> int:
    """How many rows a table of the server's database holds (to show that a refusal wrote nothing)."""
    engine: AsyncEngine = create_engine(settings.database_url, schema=settings.storage.schema_name)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(getattr(tables, table))) or 0)
    finally:
        await engine.dispose()


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, decoded without verification (the token endpoint's tests verify signatures)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def page_error(page: str) -> str | None:
    """The error code our own error page shows, if the page is one."""
    match = re.search(r"<code>([a-z_]+)</code>", page)
    return match[1] if match else None


def set_cookies(response: httpx.Response) -> dict[str, set[str]]:
    """The cookies a response sets: name to its lower-cased attributes (``httponly``, ``samesite=lax``…)."""
    cookies: dict[str, set[str]] = {}
    for header in response.headers.get_list("set-cookie"):
        name_value, *attributes = (part.strip() for part in header.split(";"))
        cookies[name_value.split("=", 1)[0]] = {a.lower() for a in attributes}
    return cookies
