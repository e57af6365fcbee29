"""The package's version, as installed (``pyproject.toml``): what ``usagelens --version``, the MCP
``serverInfo.version`` and the OpenAPI document report."""

from __future__ import annotations

from functools import cache
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed

__all__ = ["version"]


@cache
def version() -> str:
    """The installed version of ``usagelens`` (``0+unknown`` when run from an uninstalled tree)."""
    try:
        return _installed("usagelens")
    except PackageNotFoundError:
        return "0+unknown"
