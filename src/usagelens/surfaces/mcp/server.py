"""The MCP server ``usagelens``: the tools ``usage``, ``teams_list``, ``projects_list`` and
``team_members_list`` (Scenario's names; CONTRACT §2).

``build_server(ledger, caller_provider)`` returns an ``MCPServer`` (official SDK 2.x) that any
transport can run: stdio (``usagelens mcp``), streamable HTTP (``surfaces/mcp/http.py``) or the
SDK's in-process ``Client``. Each call asks ``caller_provider()`` who is calling, builds
``UsageArgs`` and calls the core (``usagelens.service``) in a worker thread. The ``usage`` tool's
parameters are ``query.ARGUMENTS`` (``surfaces/signature.py``); pydantic checks their types only,
the core every rule (``query.resolve``, ``query.answer_format``).

Results: ``structuredContent`` is the contract JSON and the text block is the same JSON, compact,
or the Markdown. Errors: every ``UsageError`` and every argument problem comes back as a tool result
with ``isError: true`` and one sentence (mapped in one place, ``UsageLensServer.call_tool``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.mcpserver.tools import Tool
from mcp_types import CallToolResult, TextContent, ToolAnnotations
from pydantic import ValidationError

from usagelens import service
from usagelens.auth import Caller
from usagelens.errors import UsageError
from usagelens.jsonout import dumps
from usagelens.ledger.base import UsageReader
from usagelens.query import ARGUMENTS, FORMATS, INCLUDES, PAGE, UsageArgs
from usagelens.query_parse import shown
from usagelens.surfaces.mcp.schema import (
    MembersResult,
    ProjectsResult,
    RequiredTeamId,
    ResponseFormat,
    TeamsResult,
    UsageResult,
    compact_input,
    compact_output,
    tool_parameter,
)
from usagelens.surfaces.signature import with_arguments
from usagelens.version import version

__all__ = ["SERVER_NAME", "CallerProvider", "UsageLensServer", "build_server", "error_result"]

SERVER_NAME = "usagelens"
CallerProvider = Callable[[], Caller]
READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)

USAGE_DESCRIPTION = f"""View usage statistics (creative units, CU) for a date range.
Default response is summarized (~1–3 KB for a small team, whatever the activity volume): headline CU \
totals, per-user consumption and per-model CU/jobs (complete lists, sorted desc, with names) and \
per-asset-kind counts. Heavy sections are stubbed in `sections` with counts and the `include` value \
that expands them; `_hint` names the most useful next call. An answer over its size ceiling says \
`truncated: true` (dropped rows summed in `sections`).
Args:
- team_id, project_id, scope, project_ids, user_ids: who (team_id is needed when you see several teams)
- start_date, end_date: inclusive ISO dates (default: the 31 days ending today); timezone: how days are cut
- include: sections to expand: 'usages' (per usage type), 'usages.daily', 'modelUsages.daily' (per \
day per model), 'nsfwUsages', 'activity' (raw events, {PAGE} a page, newest first; next page with \
activity_offset), 'entities' (names of the ids above)
- response_format: 'json' (default) or 'markdown' (top 10 rows per table)
Returns: {{scope, totals, consumption, modelUsages, assetUsages, sections, _hint}}; each include \
value adds its section; `budgets` when one applies (used, remaining, forecastCU, runsOutOn).
Examples:
- "Show usage for this month" -> start_date="2026-04-01", end_date="2026-04-30"
- "What models cost me the most?" -> default call (modelUsages is aggregated and sorted)
- "Break down model CU by day" -> include=['modelUsages.daily']
- "Give me the raw event log" -> include=['activity'], then activity_offset={PAGE}, {2 * PAGE}, …
Don't use when: you need per-job execution state or want to change anything; this tool only reads."""

TEAMS_DESCRIPTION = """List the teams you can see, each with its projects (ids and names).
Use it to find the team_id and project ids for `usage`. Returns: {teams: [{id, name, projects}]}."""

PROJECTS_DESCRIPTION = """List the projects of one team you can see (ids and names).
Returns: {teamId, projects: [{id, name}]}."""

MEMBERS_DESCRIPTION = """List the people and API keys seen in one team's usage (user_ids for `usage`).
Returns: {teamId, members: [{id, fullName, email, isApiKey}]}."""


#: How a right value looks, per argument (the declaration's examples): the fix in every type error.
_EXAMPLES = {a.name: a.example for a in ARGUMENTS}


def _shown(value: Any) -> str:
    if isinstance(value, str):
        text = f"'{shown(value, limit=10_000)}'"  # one line: control characters escaped
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def argument_problem(error: ValidationError, arguments: dict[str, Any]) -> str:
    """One sentence for the first problem of ``error`` (raised validating ``arguments``)."""
    first = error.errors()[0]
    loc = first.get("loc") or ("arguments",)
    name = str(loc[0])
    example = _EXAMPLES.get(name, "a valid value")
    kind = first.get("type", "")
    if kind == "missing":
        return f"{name} is required; pass it, e.g. {name}={example}."
    value = arguments.get(name)
    if name == "activity_offset":
        return (
            f"activity_offset: {_shown(value)} must be a whole number ≥ 0 (pages hold {PAGE} events: "
            f"0, {PAGE}, {2 * PAGE}, …)."
        )
    if len(loc) > 1 and isinstance(loc[1], int) and isinstance(value, list):
        item = value[loc[1]] if loc[1] < len(value) else None
        return f"{name}: item {loc[1] + 1} ({_shown(item)}) is not text; pass a list of strings such as {example}."
    if kind == "list_type":
        accepted = f" (accepted: {', '.join(INCLUDES)})" if name == "include" else ""
        return f"{name}: {_shown(value)} is not a list; pass a list such as {example}{accepted}."
    if kind == "string_type":
        return f"{name}: {_shown(value)} is not text; pass a string such as {example}."
    return f"{name}: {_shown(value)} is not accepted; pass a value such as {example}."


def unknown_argument(tool: str, name: str, known: list[str]) -> str:
    """The sentence for an argument the tool does not take."""
    return f"{name} is not an argument of {tool}; use one of: {', '.join(known)}."


def error_result(message: str) -> CallToolResult:
    """A tool result carrying one sentence and ``isError: true``."""
    return CallToolResult(content=[TextContent(type="text", text=message)], is_error=True)


def _result(answer: service.Answer) -> CallToolResult:
    """``structuredContent`` = the contract JSON; the text block = compact JSON or the Markdown.

    CU are exact ``Decimal``s; the SDK dumps results in pydantic's JSON mode (a ``Decimal`` would
    become a string), so the structured content is parsed back from the exact JSON text: a CU
    becomes the float whose shortest representation is that same text (exact for the ≤ 15
    significant digits CU carry below a billion), so clients receive ``0.3``, never
    ``0.30000000000000004``.
    """
    text = answer.text
    structured = json.loads(text if answer.format == "json" else dumps(answer.data))
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=structured)


class UsageLensServer(MCPServer):
    """``MCPServer`` whose tool calls map every usage error and bad argument to one sentence."""

    def __init__(self, tools: list[Tool], **kwargs: Any) -> None:
        super().__init__(SERVER_NAME, version=version(), tools=tools, **kwargs)
        self._arguments = {t.name: list(t.parameters.get("properties", {})) for t in tools}

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        """Run a tool; usage errors and argument problems become ``isError`` results.

        An unknown tool, a protocol error or a crash is left to the SDK (a crash reaches the
        client as "Error executing tool …", its traceback only in the server's log on stderr).
        """
        known = self._arguments.get(name)
        if known is not None:
            extra = [a for a in arguments if a not in known]
            if extra:
                return error_result(unknown_argument(name, extra[0], known))
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as e:
            cause = e.__cause__
            if known is not None and isinstance(cause, ValidationError):
                return error_result(argument_problem(cause, arguments))
            if isinstance(cause, UsageError):
                return error_result(str(cause))
            raise


def _tool(fn: Callable[..., Any], title: str, description: str) -> Tool:
    tool = Tool.from_function(fn, title=title, description=description, annotations=READ_ONLY)
    tool.parameters = compact_input(tool.parameters)
    if tool.fn_metadata.output_schema is not None:
        tool.fn_metadata.output_schema = compact_output(tool.fn_metadata.output_schema)
    return tool


def build_server(
    ledger: UsageReader,
    caller_provider: CallerProvider,
    *,
    now: Callable[[], datetime] | None = None,
    log_level: str = "WARNING",
) -> UsageLensServer:
    """The ``usagelens`` MCP server over ``ledger``.

    ``caller_provider()`` is asked on every call who is calling (``Caller.local()`` for the local
    owner, the key's caller over HTTP); it may raise ``Unauthorized``. ``now`` fixes "today" (tests
    and benchmarks). The tools are ``usage``, ``teams_list``, ``projects_list`` and ``team_members_list``
    (closures over ``ledger`` and ``caller_provider``: hence over 40 lines).
    """

    @with_arguments(tool_parameter)
    async def usage(**arguments: Any) -> Annotated[CallToolResult, UsageResult]:
        args = UsageArgs(**{**arguments, "include": list(arguments["include"] or [])})
        caller = caller_provider()
        today = now() if now else None
        return _result(await anyio.to_thread.run_sync(lambda: service.usage(ledger, caller, args, today)))

    async def teams_list(response_format: ResponseFormat = FORMATS[0]) -> Annotated[CallToolResult, TeamsResult]:
        caller = caller_provider()
        return _result(await anyio.to_thread.run_sync(lambda: service.list_teams(ledger, caller, response_format)))

    async def projects_list(
        team_id: RequiredTeamId, response_format: ResponseFormat = FORMATS[0]
    ) -> Annotated[CallToolResult, ProjectsResult]:
        caller = caller_provider()
        return _result(
            await anyio.to_thread.run_sync(lambda: service.list_projects(ledger, caller, team_id, response_format))
        )

    async def team_members_list(
        team_id: RequiredTeamId, response_format: ResponseFormat = FORMATS[0]
    ) -> Annotated[CallToolResult, MembersResult]:
        caller = caller_provider()
        today = now() if now else None
        return _result(
            await anyio.to_thread.run_sync(
                lambda: service.team_members(ledger, caller, team_id, response_format, today)
            )
        )

    tools = [
        _tool(usage, "Usage", USAGE_DESCRIPTION),
        _tool(teams_list, "List teams", TEAMS_DESCRIPTION),
        _tool(projects_list, "List projects", PROJECTS_DESCRIPTION),
        _tool(team_members_list, "List team members", MEMBERS_DESCRIPTION),
    ]
    return UsageLensServer(tools, log_level=log_level)
