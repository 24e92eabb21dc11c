"""Remembered consent is revocable by the operator, and expired state is purged."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from drawbridge.app import build_components, start
from drawbridge.auth_server.housekeeping import purge_once
from drawbridge.settings import Settings
from drawbridge.storage.repositories import AuthorizationCodeRecord, LoginSessionRecord
from drawbridge.testing import FrozenClock
from tests.auth_server.oauth_flow import Flow, add_user
from tests.conftest import LiveServer


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRAWBRIDGE_")}
    env["DRAWBRIDGE_STORAGE__DATABASE_URL"] = settings.database_url
    if settings.storage.schema_name:
        env["DRAWBRIDGE_STORAGE__SCHEMA_NAME"] = settings.storage.schema_name
    return subprocess.run(
        [sys.executable, "-m", "drawbridge", *args, "--dev"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


async def test_revoked_consent_is_asked_again_and_its_refresh_tokens_stop_working(live_server: LiveServer) -> None:
    await add_user(live_server.settings, live_server.clock, "dora", ("support",))
    async with live_server.client() as http:
        flow = Flow(http, live_server.settings.resource_url)
        await flow.register(grant_types=["authorization_code", "refresh_token"])
        tokens = (await flow.redeem(await flow.code_via_login("dora"))).json()

        listed = _cli(live_server.settings, "consents", "list", "dora")
        assert listed.returncode == 0, listed.stderr
        (row,) = [json.loads(line) for line in listed.stdout.splitlines()]
        assert row["client_id"] == flow.client_id
        assert set(row["scope"].split()) == {"orders:read", "customers:read"}

        revoked = _cli(live_server.settings, "consents", "revoke", "dora", flow.client_id)
        assert revoked.returncode == 0, revoked.stderr

        refreshed = await flow.token(grant_type="refresh_token", refresh_token=tokens["refresh_token"])
        assert refreshed.status_code == 400
        assert refreshed.json()["error"] == "invalid_grant"
        again = await flow.authorize()
        consent_page = await http.get(again.headers["location"])
        assert consent_page.status_code == 200  # shown again, not skipped
        assert 'name="action" value="approve"' in consent_page.text


async def test_revoking_a_consent_that_does_not_exist_exits_2(live_server: LiveServer) -> None:
    await add_user(live_server.settings, live_server.clock, "erin")
    result = _cli(live_server.settings, "consents", "revoke", "erin", "no-such-client")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    unknown_user = _cli(live_server.settings, "consents", "list", "nobody")
    assert unknown_user.returncode == 2


async def test_housekeeping_purges_expired_codes_and_sessions_but_keeps_live_ones(
    settings: Settings, clock: FrozenClock
) -> None:
    components = build_components(settings, clock=clock)
    try:
        await start(components)
        server = components.auth_server
        user = await components.users.add_user("frank", "long enough password", [])
        now = clock.now()
        for name, expires in (("old", now - 1), ("live", now + 60)):
            await server.grants.add_code(
                AuthorizationCodeRecord(
                    code_hash=name,
                    client_id="c",
                    user_id=user.id,
                    redirect_uri="https://a.example/cb",
                    scope="orders:read",
                    resource="https://r.example/mcp",
                    code_challenge="x" * 43,
                    expires_at=expires,
                )
            )
            await server.sessions.add_session(
                LoginSessionRecord(id_hash=name, user_id=user.id, created_at=now - 100, expires_at=expires)
            )
        removed = await purge_once(server, components.clients, unused_client_ttl=3600)
        assert removed == 2
        assert (await server.grants.consume_code("live", now, family_id="f", access_jti="j"))[0] is not None
        assert await server.sessions.get_session("live") is not None
        assert await server.sessions.get_session("old") is None
    finally:
        await components.engine.dispose()


async def test_revoking_a_refresh_token_also_revokes_the_access_tokens_of_its_family(
    live_server_factory: Any,
) -> None:
    # RFC 7009 §2.1: revoking a refresh token SHOULD also invalidate access tokens based on the same grant.
    server = live_server_factory(mcp={"revocation_check_seconds": 0})
    await add_user(server.settings, server.clock, "gina", ("support",))
    async with server.client() as http:
        flow = Flow(http, server.settings.resource_url)
        await flow.register(grant_types=["authorization_code", "refresh_token"])
        first = (await flow.redeem(await flow.code_via_login("gina", scope="orders:read"))).json()
        second = (await flow.token(grant_type="refresh_token", refresh_token=first["refresh_token"])).json()
        mcp_headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
        ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}

        accepted = await http.post(
            "/mcp", json=ping, headers={**mcp_headers, "Authorization": f"Bearer {second['access_token']}"}
        )
        assert accepted.status_code != 401

        revoked = await http.post("/revoke", data={"token": second["refresh_token"], "client_id": flow.client_id})
        assert revoked.status_code == 200

        for token in (first["access_token"], second["access_token"]):
            refused = await http.post("/mcp", json=ping, headers={**mcp_headers, "Authorization": f"Bearer {token}"})
            assert refused.status_code == 401
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]
