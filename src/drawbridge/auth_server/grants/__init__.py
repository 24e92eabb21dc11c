"""Token-endpoint grants: one class per grant type, each with the same ``exchange`` lifecycle."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from drawbridge.auth_server.models import Client


class Grant(Protocol):
    """A grant type of the token endpoint."""

    async def exchange(self, form: Mapping[str, str], client: Client) -> dict[str, Any]:
        """Validate the request for this authenticated client and return the token response body."""
        ...
