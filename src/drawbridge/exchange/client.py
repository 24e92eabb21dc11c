"""Exchanging the user's token for downstream tokens, and calling downstream APIs with them.

Threats: token passthrough (the user's token is only ever sent to the authorization server's token endpoint, as
``subject_token``; downstream APIs get tokens minted for them); over-broad tokens (each exchange asks for the
narrowest scope); token reuse across users (the cache key is the user, audience and scope). Exchanged tokens are
cached until shortly before they expire, so a tool call costs one exchange per user and API every few minutes.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from opentelemetry import trace

from drawbridge.clock import Clock
from drawbridge.errors import DrawbridgeError
from drawbridge.telemetry.tracing import tracer
from drawbridge.tools import DownstreamResponse

log = structlog.get_logger(__name__)

# RFC 8693 §2.1 and §3 identifiers (not secrets).
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"  # noqa: S105
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"  # noqa: S105
_MARGIN_SECONDS = 30
_CACHE_SIZE = 10_000


class ExchangeError(DrawbridgeError):
    """The exchange or the downstream call failed; ``reason`` is safe to log and show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Cached:
    token: str
    expires_at: float


class TokenExchanger:
    """Performs RFC 8693 exchanges at the token endpoint as a confidential client (client_secret_basic)."""

    def __init__(
        self, http: httpx.AsyncClient, *, token_endpoint: str, client_id: str, client_secret: str, clock: Clock
    ) -> None:
        self._http = http
        self._token_endpoint = token_endpoint
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str, str], _Cached] = OrderedDict()

    async def token_for(self, *, user: str, subject_token: str, audience: str, scopes: tuple[str, ...] | None) -> str:
        """A token for ``audience`` acting for ``user``, from the cache or a fresh exchange.

        Raises:
            ExchangeError: the authorization server refused (``reason`` is its OAuth error code).
        """
        scope_key = " ".join(sorted(scopes)) if scopes is not None else "*"
        # The subject token is part of the key (hashed) so a user's new, narrower token is never upgraded by an
        # older cached exchange.
        key = (user, audience, scope_key + "|" + hashlib.sha256(subject_token.encode()).hexdigest())
        now = self._clock.now()
        cached = self._cache.get(key)
        if cached is not None and cached.expires_at - _MARGIN_SECONDS > now:
            self._cache.move_to_end(key)
            trace.get_current_span().add_event("drawbridge.token_exchange.cached", {"audience": audience})
            return cached.token
        with tracer.start_as_current_span("drawbridge.token_exchange", attributes={"drawbridge.audience": audience}):
            return await self._exchange(key, subject_token, audience, scopes, now)

    async def _exchange(
        self, key: tuple[str, str, str], subject_token: str, audience: str, scopes: tuple[str, ...] | None, now: float
    ) -> str:
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "resource": audience,
        }
        if scopes is not None:
            form["scope"] = " ".join(scopes)
        try:
            response = await self._http.post(self._token_endpoint, data=form, auth=self._auth)
        except httpx.HTTPError as exc:
            raise ExchangeError("token_endpoint_unreachable") from exc
        body = _json(response)
        if response.status_code != 200 or not isinstance(body.get("access_token"), str):
            log.warning("token_exchange_refused", audience=audience, error=body.get("error"))
            raise ExchangeError(str(body.get("error") or f"http_{response.status_code}"))
        token = str(body["access_token"])
        self._cache[key] = _Cached(token, now + float(body.get("expires_in", 60)))
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return token


@dataclass(frozen=True, slots=True)
class Api:
    """A registered downstream API: where to call it, and its identifier (the token audience)."""

    name: str
    identifier: str


class DownstreamApis:
    """The registered downstream APIs, callable on behalf of one user at a time."""

    def __init__(self, exchanger: TokenExchanger, http: httpx.AsyncClient, apis: Mapping[str, Api]) -> None:
        self._exchanger = exchanger
        self._http = http
        self._apis = dict(apis)

    def for_user(self, user: str, subject_token: str) -> _UserDownstream:
        """A :class:`~drawbridge.tools.DownstreamCaller` bound to this user and their token."""
        return _UserDownstream(self, user, subject_token)

    async def _request(
        self,
        *,
        user: str,
        subject_token: str,
        api: str,
        method: str,
        path: str,
        json: Any,
        scopes: tuple[str, ...] | None,
    ) -> DownstreamResponse:
        target = self._apis.get(api)
        if target is None:
            raise ExchangeError("unknown_api")
        token = await self._exchanger.token_for(
            user=user, subject_token=subject_token, audience=target.identifier, scopes=scopes
        )
        try:
            response = await self._http.request(
                method, target.identifier.rstrip("/") + path, json=json, headers={"Authorization": f"Bearer {token}"}
            )
        except httpx.HTTPError as exc:
            raise ExchangeError("downstream_unreachable") from exc
        return DownstreamResponse(status=response.status_code, body=_json(response))


@dataclass(frozen=True, slots=True)
class _UserDownstream:
    apis: DownstreamApis
    user: str
    subject_token: str

    async def request(
        self, api: str, method: str, path: str, *, json: Any = None, scopes: tuple[str, ...] | None = None
    ) -> DownstreamResponse:
        return await self.apis._request(
            user=self.user,
            subject_token=self.subject_token,
            api=api,
            method=method,
            path=path,
            json=json,
            scopes=scopes,
        )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {"value": body}
