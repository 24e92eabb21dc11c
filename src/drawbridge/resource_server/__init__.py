"""The MCP resource server: streamable HTTP (and stdio) on the official SDK, accepting only tokens minted for it."""
