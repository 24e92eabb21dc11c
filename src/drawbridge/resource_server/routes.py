"""The resource server's routes: the MCP endpoint and its RFC 9728 metadata."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from drawbridge.resource_server.endpoint import McpEndpoint
from drawbridge.resource_server.protected_resource import metadata_paths, protected_resource_metadata
from drawbridge.settings import Settings
from drawbridge.tools import Toolset


def resource_server_routes(settings: Settings, toolset: Toolset, endpoint: McpEndpoint) -> list[BaseRoute]:
    """``/mcp`` (every method: POST, GET for SSE, DELETE to end a session) and the metadata documents."""
    document = protected_resource_metadata(
        resource=settings.resource_url,
        issuer=settings.issuer,
        scopes=sorted(toolset.scopes()),
        resource_name="Drawbridge MCP server",
    )

    async def metadata(_request: Request) -> JSONResponse:
        return JSONResponse(
            document, headers={"Cache-Control": "public, max-age=3600", "Access-Control-Allow-Origin": "*"}
        )

    return [
        *(Route(path, metadata, methods=["GET"]) for path in metadata_paths(settings.resource_url)),
        Route(settings.auth.resource_path, endpoint.app),
    ]
