"""The demo's downstream API: a payments service that opens refund cases, reached only with exchanged tokens.

It verifies tokens exactly as a third-party API would, knowing nothing of Drawbridge's internals: the issuer's
published JWKS fetched over HTTP (cached; refetched on an unknown key id), the signature, ``typ: at+jwt``,
``iss``, ``aud`` = its own identifier (so the user's MCP token, minted for the MCP server, is refused), the
scope, and the expiry. It records who asked (``sub``) and who acted for them (``act``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from drawbridge.clock import Clock

PATH = "/demo/payments"
REFUND_SCOPE = "orders:refund"


@dataclass
class PaymentsApi:
    """The payments service: its identity, how it finds the issuer's keys, and the cases it opened."""

    identifier: str
    issuer: str
    clock: Clock
    cases: list[dict[str, Any]] = field(default_factory=list)
    _keys: KeySet | None = None

    def routes(self) -> Mount:
        return Mount(PATH, routes=[Route("/refunds", self.open_refund_case, methods=["POST"])])

    async def open_refund_case(self, request: Request) -> JSONResponse:
        claims, refusal = await self._authenticate(request)
        if refusal is not None:
            return refusal
        body = await request.json()
        case = {
            "case_id": len(self.cases) + 1,
            "order_id": body.get("order_id"),
            "amount_pence": body.get("amount_pence"),
            "on_behalf_of": claims["sub"],
            "actor": (claims.get("act") or {}).get("sub"),
            "audience": claims["aud"],
            "scope": claims["scope"],
        }
        self.cases.append(case)
        return JSONResponse(case, status_code=201)

    async def _authenticate(self, request: Request) -> tuple[dict[str, Any], JSONResponse | None]:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return {}, _challenge(401, None)
        claims = await self._verify(token)
        if claims is None:
            return {}, _challenge(401, "invalid_token")
        if REFUND_SCOPE not in str(claims.get("scope", "")).split():
            return {}, _challenge(403, "insufficient_scope")
        return claims, None

    async def _verify(self, token: str) -> dict[str, Any] | None:
        for refresh in (False, True):
            try:
                decoded = jwt.decode(token, await self._key_set(refresh=refresh), algorithms=["RS256", "ES256"])
            except (JoseError, ValueError):
                continue
            claims = decoded.claims
            fresh = float(claims.get("exp", 0)) > self.clock.now()
            if (
                decoded.header.get("typ") == "at+jwt"
                and claims.get("iss") == self.issuer
                and claims.get("aud") == self.identifier
                and fresh
            ):
                return dict(claims)
            return None
        return None

    async def _key_set(self, *, refresh: bool) -> KeySet:
        if self._keys is None or refresh:
            async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
                response = await http.get(f"{self.issuer}/jwks")
            self._keys = KeySet.import_key_set(response.json())
        return self._keys


def _challenge(status: int, error: str | None) -> JSONResponse:
    header = "Bearer" + (f' error="{error}"' if error else "")
    return JSONResponse({"error": error or "unauthorized"}, status_code=status, headers={"WWW-Authenticate": header})
