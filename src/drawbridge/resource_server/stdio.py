"""``serve --stdio``: the same tools and guard over stdin/stdout, for one local user.

There is no token on stdio: the caller's identity and scopes come from the ``[stdio]`` settings, and every call
still goes through the guard (scopes, strict inputs, declared outputs). Logs go to stderr; stdout is the protocol.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from drawbridge.guard import GuardMiddleware
from drawbridge.guard.access import AccessPolicy
from drawbridge.guard.masking import OutputMasking
from drawbridge.guard.observe import CallObserver
from drawbridge.settings import StdioSettings
from drawbridge.tools import Caller, Toolset


def stdio_server(
    toolset: Toolset,
    settings: StdioSettings,
    *,
    masking: OutputMasking | None,
    policy: AccessPolicy | None,
    observer: CallObserver | None,
) -> MCPServer:
    """An SDK server whose every call is made as the configured local caller.

    The client counts as verified for the access policy: it is whatever program the local user started.
    """
    caller = Caller(
        subject=settings.subject,
        client_id=settings.client_id,
        scopes=frozenset(settings.scopes),
        roles=settings.roles,
        username=settings.username,
        groups=settings.groups,
        client_verified=True,
    )
    return MCPServer(
        name="drawbridge",
        title="Drawbridge",
        instructions=toolset.instructions,
        log_level="WARNING",
        middleware=[GuardMiddleware(toolset, lambda: caller, masking=masking, policy=policy, observer=observer)],
    )
