"""``usagelens serve``: the REST API, ``/mcp`` and the dashboard in one process that owns the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from usagelens.auth import KeyStore
from usagelens.errors import InvalidArgument, Unavailable
from usagelens.ledger import open_ledger, store_label
from usagelens.surfaces.cli.console import err
from usagelens.surfaces.cli.options import DbOption

__all__ = ["register", "serve"]


def _demo_key(keys: KeyStore, path: Path, team: str | None) -> dict | None:
    """Credentials of the local demo key (created once, kept in ``path``), or None without teams."""
    if path.exists():
        saved = json.loads(path.read_text())
        live = {k["key_id"] for k in keys.list() if k["revoked_at"] is None}
        if saved.get("key") in live and saved.get("admin", {}).get("key") in live:
            return saved
    if team is None:
        return None
    new = keys.create(team, "analytics", label="demo (make run)")
    admin = keys.create(None, "admin", label="demo admin (make run)")
    saved = {
        "key": new.key,
        "secret": new.secret,
        "team": new.team,
        "kind": new.kind,
        "admin": {"key": admin.key, "secret": admin.secret},
    }
    path.write_text(json.dumps(saved) + "\n")
    path.chmod(0o600)
    return saved


def _banner(url: str, key: dict | None, db: str) -> None:
    lines = [
        f"usagelens serving {db}",
        f"  dashboard  {url}/",
        f"  REST       {url}/v1/usage  ·  {url}/v1/usages",
        f"  OpenAPI    {url}/docs",
        f"  MCP        {url}/mcp",
    ]
    if key:
        cred = f"{key['key']}:{key['secret']}"
        lines += [
            f"  demo key   {cred}   (team {key['team']}, {key['kind']})",
            f"  try        curl -u {cred} '{url}/v1/usage'",
        ]
        if "admin" in key:
            admin = f"{key['admin']['key']}:{key['admin']['secret']}"
            lines += [
                f"  admin key  {admin}   (every team: ingest, keys, stats)",
                f"  ingest     curl -u {admin} -H 'Content-Type: application/x-ndjson' --data-binary @events.jsonl "
                f"'{url}/v1/usage-events'",
            ]
        lines += [
            "  MCP client config (streamable HTTP):",
            json.dumps(
                {"mcpServers": {"usagelens": {"url": f"{url}/mcp", "headers": {"Authorization": f"Bearer {cred}"}}}}
            ),
        ]
    err.print("\n".join(lines), highlight=False, markup=False, soft_wrap=True)


def _check_port(host: str, port: int) -> None:
    """One sentence, before anything is printed, when ``host:port`` cannot be served (in use, or
    not an address of this machine); uvicorn would print the banner, then exit 3."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as e:
        raise InvalidArgument(f"--host: '{host}' is not an address this machine can serve ({e})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as e:
            raise Unavailable(
                f"--port: {port} on {host} cannot be served ({e.strerror or e}); stop what holds it or pick "
                "another port (--port, or make run PORT=…)"
            ) from None


def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback unless the store has keys).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    insecure: Annotated[bool, typer.Option(help="Allow a non-loopback address without API keys.")] = False,
    demo_key: Annotated[
        str | None,
        typer.Option(
            help="Create (once) an analytics key for the first team and an admin key, keep them in this file and "
            "print them."
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Serve the REST API, /mcp and the dashboard over the store (the process owns the file)."""
    import uvicorn

    from usagelens.surfaces.http import create_app  # here: the HTTP stack takes ~0.6 s to import
    from usagelens.surfaces.http.guard import is_loopback_name

    _check_port(host, port)
    path = store_label(db)
    ledger = open_ledger(db)
    keys = KeyStore(ledger)
    key = None
    if demo_key:
        teams = ledger.teams()
        key = _demo_key(keys, Path(demo_key), teams[0]["id"] if teams else None)
    has_keys = any(k["revoked_at"] is None for k in keys.list())
    if not has_keys and not is_loopback_name(host) and not insecure:
        ledger.close()
        raise InvalidArgument(
            f"--host: refusing to serve {host} without API keys (anyone could read the store); create one "
            "with usagelens keys create, bind 127.0.0.1, or pass --insecure"
        )
    app = create_app(ledger, keys=keys, require_keys=has_keys, host=host)
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    _banner(url, key, path)
    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
    finally:
        ledger.close()


def register(app: typer.Typer) -> None:
    """Add ``serve`` to ``app``."""
    app.command()(serve)
