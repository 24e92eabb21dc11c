"""The tool-author API: define tools and resources that follow Drawbridge's five design rules."""

from drawbridge.tools.definition import (
    AttributeType,
    AttributeValue,
    Caller,
    DevUser,
    DownstreamCaller,
    DownstreamResponse,
    ResourceTemplate,
    Target,
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
    "AttributeType",
    "AttributeValue",
    "Caller",
    "DevUser",
    "DownstreamCaller",
    "DownstreamResponse",
    "ResourceTemplate",
    "Target",
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
