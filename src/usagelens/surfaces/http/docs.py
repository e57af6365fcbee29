"""OpenAPI descriptions shared by the routes (the one error body and which statuses can occur),
and ``GET /docs``: the API reference as one self-contained HTML page.

The reference is rendered on the server from the app's own OpenAPI document: no script, no
stylesheet or font from a CDN (the dashboard's origin never runs third-party code), served with
``Content-Security-Policy: default-src 'none'``. The machine-readable schema stays at
``/openapi.json``.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

__all__ = ["ERRORS", "READ_ERRORS", "WRITE_ERRORS", "ErrorBody", "reference_html", "router"]

router = APIRouter()
DOCS_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
_STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}
h2{margin-top:2.5rem;border-bottom:1px solid #d0d7de}code,pre{font:13px ui-monospace,monospace}
table{border-collapse:collapse;width:100%;margin:.5rem 0}td,th{border:1px solid #d0d7de;padding:.25rem .5rem;
text-align:left;vertical-align:top}.m{font-weight:700;text-transform:uppercase;margin-right:.5rem}
section{margin:1.5rem 0}pre{background:#f6f8fa;padding:.5rem;overflow:auto}"""


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable kind: invalid_argument, unauthorized, not_found, …")
    message: str = Field(description="One sentence naming the problem, the value and the fix.")
    field: str | None = Field(None, description="The argument or field at fault, when there is one.")
    problems: list[dict[str, Any]] | None = Field(None, description="Ingest: every problem by index and field.")


class ErrorBody(BaseModel):
    """Every error of every endpoint has this shape."""

    error: ErrorDetail


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Bad argument",
        401: "Missing or wrong API key",
        403: "The key may not do this",
        404: "Unknown (or invisible) team or project",
        413: "Too many records",
        422: "Invalid records",
        500: "Internal error (never caused by input)",
    }
    return {s: {"model": ErrorBody, "description": text[s]} for s in statuses}


READ_ERRORS = _errors(400, 401, 403, 404, 422, 500)
WRITE_ERRORS = _errors(400, 401, 403, 404, 413, 422, 500)
ERRORS = _errors(401, 403, 500)


def _type(schema: dict[str, Any]) -> str:
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"] if s.get("type") != "null") or "null"
    if schema.get("type") == "array":
        return f"list of {_type(schema.get('items', {}))}"
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    return str(schema.get("type", "any"))


def _operation(method: str, path: str, op: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{escape(p['name'])}</code></td><td>{escape(p.get('in', ''))}</td>"
        f"<td>{escape(_type(p.get('schema', {})))}</td><td>{'yes' if p.get('required') else ''}</td>"
        f"<td>{escape(p.get('description', ''))}</td></tr>"
        for p in op.get("parameters", [])
    )
    params = (
        f"<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th></th></tr>{rows}</table>"
        if rows
        else ""
    )
    body = op.get("requestBody", {}).get("content", {})
    bodies = f"<p>Body: {escape(', '.join(body))}</p>" if body else ""
    statuses = ", ".join(
        f"<code>{escape(str(code))}</code> {escape(r.get('description', ''))}"
        for code, r in op.get("responses", {}).items()
    )
    return (
        f"<section><h3><span class=m>{escape(method)}</span><code>{escape(path)}</code></h3>"
        f"<p><b>{escape(op.get('summary', ''))}</b></p><p>{escape(op.get('description', ''))}</p>"
        f"{params}{bodies}<p>Answers: {statuses}</p></section>"
    )


def reference_html(openapi: dict[str, Any]) -> str:
    """The API reference of ``openapi`` (an OpenAPI document) as one HTML page without scripts;
    every text from the document is HTML-escaped."""
    info = openapi.get("info", {})
    groups: dict[str, list[str]] = {}
    for path, item in openapi.get("paths", {}).items():
        for method, op in item.items():
            tag = (op.get("tags") or ["other"])[0]
            groups.setdefault(tag, []).append(_operation(method, path, op))
    sections = "".join(f"<h2>{escape(tag)}</h2>{''.join(ops)}" for tag, ops in groups.items())
    error = json.dumps({"error": {"code": "invalid_argument", "message": "…", "field": "…"}})
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(info.get('title', 'API'))} "
        f"· API reference</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(info.get('title', 'API'))} {escape(info.get('version', ''))}</h1>"
        f"<p>{escape(info.get('description', ''))}</p>"
        f"<p>Every error has one shape: <code>{escape(error)}</code>. The machine-readable schema is "
        f"<a href=openapi.json><code>/openapi.json</code></a>.</p>{sections}</body></html>"
    )


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    """The API reference (see the module docstring)."""
    return HTMLResponse(reference_html(request.app.openapi()), headers={"Content-Security-Policy": DOCS_CSP})
