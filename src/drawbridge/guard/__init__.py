"""One pipeline for every MCP call: scope → strict input → tool → output model (→ policy, masking, audit later)."""

from drawbridge.guard.pipeline import CallerSource, GuardMiddleware

__all__ = ["CallerSource", "GuardMiddleware"]
