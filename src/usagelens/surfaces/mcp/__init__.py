"""The MCP server (official ``mcp`` SDK): the ``usage`` tool and its companions."""

from usagelens.surfaces.mcp.server import SERVER_NAME, CallerProvider, UsageLensServer, build_server, error_result

__all__ = ["SERVER_NAME", "CallerProvider", "UsageLensServer", "build_server", "error_result"]
