"""The tool-author API: define tools and resources that follow Drawbridge's five design rules."""

from drawbridge.tools.definition import (
    Caller,
    DevUser,
    DownstreamCaller,
    DownstreamResponse,
    ResourceTemplate,
    Tool,
    ToolCall,
    Toolset,
    ToolsetContext,
    ToolsetFactory,
    resource,
    tool,
)
from drawbridge.tools.errors import ToolDefinitionError, ToolFailure, ToolInputError

__all__ = [
    "Caller",
    "DevUser",
    "DownstreamCaller",
    "DownstreamResponse",
    "ResourceTemplate",
    "Tool",
    "ToolCall",
    "ToolDefinitionError",
    "ToolFailure",
    "ToolInputError",
    "Toolset",
    "ToolsetContext",
    "ToolsetFactory",
    "resource",
    "tool",
]
