"""The HTTP service (FastAPI): REST, ``/mcp`` and the dashboard."""

from usagelens.surfaces.http.app import STATUS, create_app, error_response

__all__ = ["STATUS", "create_app", "error_response"]
