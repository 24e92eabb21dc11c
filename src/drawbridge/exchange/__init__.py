"""The MCP server as an OAuth client of downstream APIs: RFC 8693 token exchange, cached, never passthrough."""

from drawbridge.exchange.client import DownstreamApis, ExchangeError, TokenExchanger

__all__ = ["DownstreamApis", "ExchangeError", "TokenExchanger"]
