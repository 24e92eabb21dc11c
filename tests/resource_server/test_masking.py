"""PII masking in the guard: what the agent sees of tool results, through the official SDK client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from drawbridge.app import build_app
from drawbridge.errors import ConfigError
from tests.conftest import LiveServer, SettingsFactory
from tests.resource_server.helpers import mcp_client, mint

DEMO = {"mcp": {"toolset": "drawbridge.demo:toolset"}}
SUMMARY = ("summarise_customer_orders", {"customer_id": 1, "period": "all_time"})


async def _summary(server: LiveServer) -> tuple[dict[str, Any], dict[str, Any]]:
    async with mcp_client(server, mint(server, scopes=("orders:read",))) as client:
        result = await client.call_tool(*SUMMARY)
    assert result.is_error is False
    assert result.structured_content is not None
    text = json.loads(result.content[0].text)  # type: ignore[union-attr]
    return result.structured_content, text


async def test_customer_email_is_masked_in_structured_and_text_results(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    clear, _ = await _summary(live_server_factory(masking={"enabled": False}, **DEMO))
    structured, text = await _summary(live_server_factory(**DEMO))

    local, domain = clear["email"].split("@")
    assert structured["email"] == f"{local[0]}***@{domain}"  # partial: the agent sees the domain only
    assert text["email"] == structured["email"]  # both renderings come from the same masked data
    assert structured["order_count"] == clear["order_count"]  # everything else is untouched


async def test_a_field_rule_redacts_a_named_field(live_server_factory: Callable[..., LiveServer]) -> None:
    server = live_server_factory(masking={"fields": {"summarise_customer_orders:name": "redact"}}, **DEMO)
    structured, _ = await _summary(server)
    assert "*" not in structured["name"]
    assert structured["name"].startswith("[")


async def test_pseudonyms_are_stable_across_calls_so_agents_can_correlate(
    live_server_factory: Callable[..., LiveServer],
) -> None:
    masking = {"pseudonym_key": "k" * 32, "fields": {"summarise_customer_orders:email": "pseudonym"}}
    server = live_server_factory(masking=masking, **DEMO)
    first, _ = await _summary(server)
    second, _ = await _summary(server)
    assert first["email"] == second["email"]
    assert first["email"].startswith("email_")
    assert "@" not in first["email"]


def test_a_field_rule_for_an_unknown_tool_is_a_config_error(make_settings: SettingsFactory) -> None:
    settings = make_settings(masking={"fields": {"no_such_tool:email": "redact"}}, **DEMO)
    with pytest.raises(ConfigError):
        build_app(settings)


def test_an_unknown_strategy_is_a_config_error(make_settings: SettingsFactory) -> None:
    settings = make_settings(masking={"defaults": {"email": "shout"}}, **DEMO)
    with pytest.raises(ConfigError):
        build_app(settings)
