"""``usagelens mcp``: the MCP server over stdio (for Claude Desktop, Claude Code, Cursor …) or HTTP.

Over stdio, stdout carries only protocol frames (the SDK also diverts stray writes to fd 1 to
stderr while it serves); logs go to stderr. The store is opened read-only, so several agents can
share it. ``--key key:secret`` (or ``USAGELENS_KEY``) limits the view to that key's team.

With ``--url`` (or ``USAGELENS_URL``), stdio answers from a running ``usagelens serve`` instead
(``surfaces/mcp/proxy.py``): the same tools and answers, the key (``--key``) checked by the server.

Over HTTP (``--http``), each request brings its own key; without any live key in the store the
server answers without keys, so it binds to loopback only unless ``--insecure``.
"""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from usagelens.auth import Caller, KeyStore
from usagelens.errors import InvalidArgument, Unauthorized
from usagelens.ledger import ControlStore, Ledger, UsageReader, open_ledger
from usagelens.surfaces.cli.options import DbOption, ScenarioKey, ScenarioSecret, ScenarioUrl, UrlOption

__all__ = ["mcp", "register"]

log = logging.getLogger("usagelens.mcp")


def _open(db: str | None) -> Ledger:
    return open_ledger(db, read_only=True, must_exist=True)


def _key_caller(control: ControlStore, key: str) -> Caller:
    name, sep, secret = key.partition(":")
    if not sep:
        raise Unauthorized("--key: the credential must be key:secret (as printed by usagelens keys create)")
    caller = KeyStore(control).verify(name, secret)
    if not caller.can_read:
        raise InvalidArgument("--key: this key can only write events; use an analytics or project key")
    return caller


def _serve_stdio(ledger: UsageReader, caller: Caller) -> None:
    from usagelens.surfaces.mcp import build_server

    build_server(ledger, lambda: caller).run("stdio")


def _proxy(url: str, key: str | None, http: bool, source: str) -> None:
    """Serve stdio from the server at ``url`` (``--url``), after refusing options it cannot honour."""
    from usagelens.surfaces.mcp.proxy import serve_proxy

    if http:
        raise InvalidArgument("--url: a server already serves MCP over HTTP at its /mcp; point clients there")
    if source != "local":
        raise InvalidArgument("--url: the server at --url answers from its own store; leave --source out")
    if key is not None and ":" not in key:
        raise Unauthorized("--key: the credential must be key:secret (as printed by usagelens keys create)")
    serve_proxy(url, key)


def _serve_http(reader: UsageReader, control: ControlStore, host: str, port: int, insecure: bool) -> None:
    import uvicorn

    from usagelens.surfaces.http.guard import is_loopback_name  # here: it loads the whole HTTP stack
    from usagelens.surfaces.mcp.http import MCP_PATH, build_http_app

    keys = KeyStore(control)
    require_key = any(k["revoked_at"] is None for k in keys.list())
    if not require_key and not is_loopback_name(host) and not insecure:
        raise InvalidArgument(
            f"--host: the store has no API key, so the server would answer anyone; serve on 127.0.0.1, "
            f"create a key (usagelens keys create --team TEAM), or pass --insecure to bind {host} anyway"
        )
    app = build_http_app(reader, keys, require_key, host=host)
    print(
        f"usagelens MCP on http://{host}:{port}{MCP_PATH} "
        + ("(API key required)" if require_key else "(no API key in the store: open to this machine)"),
        file=sys.stderr,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


def mcp(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP instead of stdio.")] = False,
    host: Annotated[str, typer.Option(help="HTTP: address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP: port.")] = 8765,
    key: Annotated[
        str | None,
        typer.Option(
            envvar="USAGELENS_KEY",
            help="stdio: key:secret limiting the view to that key's team (with --url: the key the server checks).",
        ),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="HTTP: allow a non-loopback --host although the store has no key.")
    ] = False,
    db: DbOption = None,
    url: UrlOption = None,
    source: Annotated[
        str, typer.Option(help="local (the store) or scenario (a live Scenario account through its API).")
    ] = "local",
    scenario_url: ScenarioUrl = None,
    scenario_key: ScenarioKey = None,
    scenario_secret: ScenarioSecret = None,
) -> None:
    """Run the MCP server (usage, teams_list, projects_list, team_members_list) over stdio or --http,
    or over stdio from a running server (--url).

    Long because its signature declares the command's twelve options (Typer reads them from it)."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="usagelens mcp: %(message)s")
    if source not in ("local", "scenario"):
        raise InvalidArgument(f"--source: '{source}' is not accepted (accepted: local, scenario)")
    if url:
        _proxy(url, key, http, source)
        return
    if source == "scenario":
        if key and not http:
            raise InvalidArgument("--key: a live Scenario account holds no usagelens keys; its own key limits the view")
        from usagelens.sources.scenario import LiveAccountControl, open_scenario

        live = open_scenario(scenario_url, scenario_key, scenario_secret)
        reader: UsageReader = live
        control: ControlStore = LiveAccountControl()
        close = live.close
        key = None
        reader.teams()  # wrong credentials fail here, with one line, not at the first tool call
    else:
        ledger = _open(db)
        reader, control, close = ledger, ledger, ledger.close
    try:
        if http:
            if key:
                log.warning("--key/USAGELENS_KEY is ignored over HTTP: each request brings its own key")
            _serve_http(reader, control, host, port, insecure)
        else:
            _serve_stdio(reader, _key_caller(control, key) if key else Caller.local())
    finally:
        close()


def register(app: typer.Typer) -> None:
    """Add ``mcp`` to ``app``."""
    app.command()(mcp)
