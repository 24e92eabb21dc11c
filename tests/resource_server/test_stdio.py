"""``drawbridge serve --stdio``: the guarded toolset over stdin/stdout, as the configured local caller."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS

REPO = Path(__file__).resolve().parents[2]


def _params(tmp_path: Path, **env: str) -> StdioServerParameters:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("DRAWBRIDGE_")}
    return StdioServerParameters(
        command=sys.executable,
        args=["-m", "drawbridge", "serve", "--stdio", "--data-dir", str(tmp_path)],
        env={**clean, "DRAWBRIDGE_MCP__TOOLSET": "tests.toolsets:basic", "PYTHONPATH": str(REPO), **env},
        cwd=str(REPO),
    )


async def test_stdio_serves_tools_as_the_configured_caller(tmp_path: Path) -> None:
    params = _params(tmp_path, DRAWBRIDGE_STDIO__SUBJECT="local-alice")
    async with Client(stdio_client(params)) as client:  # type: ignore[arg-type]
        tools = [tool.name for tool in (await client.list_tools()).tools]
        result = await client.call_tool("lookup_item", {"item_id": 7})
    assert tools == ["lookup_item"]  # remove_item needs orders:refund, which [stdio] does not grant by default
    assert result.is_error is False
    assert result.structured_content == {"item_id": 7, "label": "item-7", "caller": "local-alice"}


async def test_stdio_still_refuses_bad_input_and_unscoped_tools(tmp_path: Path) -> None:
    async with Client(stdio_client(_params(tmp_path))) as client:  # type: ignore[arg-type]
        bad = await client.call_tool("lookup_item", {"item_id": 7, "extra": True})
        assert bad.is_error is True
        with pytest.raises(MCPError) as refused:
            await client.call_tool("remove_item", {"item_id": 1, "note": "x"})
    assert refused.value.error.code == INVALID_PARAMS  # an unscoped tool looks like an unknown one
