"""Errors of the tool-author API."""

from drawbridge.errors import DrawbridgeError


class ToolDefinitionError(DrawbridgeError):
    """A tool or resource definition breaks the design rules; raised at registration, naming tool and field."""


class ToolInputError(DrawbridgeError):
    """A call's arguments do not fit the tool's input model; the message is safe to show the agent."""


class ToolFailure(DrawbridgeError):
    """Raised by a tool to report an expected failure (e.g. "order not found") to the agent as a tool error."""
