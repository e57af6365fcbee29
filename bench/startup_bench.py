"""Start-up (issue 16): ``usagelens --help``, a one-shot ``usagelens usage`` and the stdio MCP server.

Each figure is a fresh process. Imports are what ``python -X importtime`` reports (the sum of its
top-level entries, the interpreter's own start-up imports included); wall time is the process from
spawn to exit; the MCP server is ready when it has answered ``initialize`` (then ``tools/list``)
sent as JSON-RPC lines on its stdin, timed from spawn. Baselines, measured in the same rounds:
``python -c pass`` (the interpreter's floor), ``python -c "import duckdb, pyarrow"`` (the engine's
own floor, which a ``usage`` answer cannot go below) and the MCP SDK's own minimal stdio server
(one no-op tool: the SDK's floor). Rounds interleave every scenario; figures are medians.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench.common import QUICK, ROOT, Row, Section
from usagelens.demo import DemoSpec
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.cli.store import load_demo

NAME = "startup"
TITLE = "Start-up: the command line and the stdio MCP server (issue 16)"
END = date(2026, 11, 24)
DEMO = DemoSpec(seed=7, events=20_000, days=120, end=END)
TEAM = "team_7_0"
USAGE = ["usage", "--team", TEAM, "--start", "2026-10-26", "--end", END.isoformat()]
RUNS = 10 if QUICK else 15
IMPORTS_MS = 300.0
READY_S = 1.0
PY = sys.executable
_SCRIPT = Path(PY).parent / "usagelens"
#: ``usagelens`` as installed (the console script), else as a module.
CLI = [PY, str(_SCRIPT)] if _SCRIPT.exists() else [PY, "-m", "usagelens.surfaces"]
#: The CLI in a process where ``import pandas`` fails: as a plain install runs it (only the chdb
#: extra installs pandas, and pyarrow imports it whenever Python values become Arrow).
NO_PANDAS = [
    PY,
    "-c",
    "import sys\n"
    "class NoPandas:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.partition('.')[0] == 'pandas':\n"
    "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
    "sys.meta_path.insert(0, NoPandas())\n"
    "sys.argv[0] = 'usagelens'\n"
    "from usagelens.surfaces.cli import main\n"
    "main()",
]
ENGINE = [PY, "-c", "import duckdb, pyarrow"]
FLOOR = [PY, "-c", "pass"]
SDK_SERVER = [
    PY,
    "-c",
    "from mcp.server import MCPServer\n"
    "server = MCPServer('floor')\n"
    "@server.tool()\n"
    "def ping() -> str:\n"
    "    '''No-op.'''\n"
    "    return 'pong'\n"
    "server.run('stdio')",
]
#: What a stdio client sends first (the handshake every MCP host performs), then the tool list.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "0"}},
}
LIST = [{"jsonrpc": "2.0", "method": "notifications/initialized"}, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}]
_TOP = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| (\S+)$", re.M)


def prepare(data: Path) -> Path:
    """The small demo store (built once)."""
    path = data / "startup20k.duckdb"
    if not path.exists():
        tmp = data / "startup20k.tmp.duckdb"
        tmp.unlink(missing_ok=True)
        led = DuckDBLedger(str(tmp))
        load_demo(led, DEMO)
        led.close()
        tmp.rename(path)
    return path


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("USAGELENS_")}


def _run(cmd: list[str], importtime: bool = False) -> subprocess.CompletedProcess:
    argv = [cmd[0], "-X", "importtime", *cmd[1:]] if importtime else cmd
    done = subprocess.run(
        argv, capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=120, stdin=subprocess.DEVNULL
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done


def imports(cmd: list[str]) -> tuple[float, dict[str, float]]:
    """Milliseconds of imports in one run of ``cmd``, and the top-level imports by milliseconds."""
    top: dict[str, float] = {}
    for us, module in _TOP.findall(_run(cmd, importtime=True).stderr):
        top[module] = top.get(module, 0.0) + int(us) / 1000
    return sum(top.values()), top


def wall(cmd: list[str]) -> float:
    """Seconds from spawn to exit of one run of ``cmd`` (output discarded)."""
    t = time.perf_counter()
    _run(cmd)
    return time.perf_counter() - t


def ready(cmd: list[str]) -> tuple[float, float, list[str]]:
    """Seconds from spawn until the stdio MCP server answers ``initialize``, then ``tools/list``;
    the tools' names."""
    with tempfile.TemporaryFile("w+") as errors:
        t = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=_env(), cwd=ROOT, text=True
        )
        assert proc.stdin is not None and proc.stdout is not None
        try:
            proc.stdin.write(json.dumps(INITIALIZE) + "\n")
            proc.stdin.flush()
            init = proc.stdout.readline()
            initialized = time.perf_counter() - t
            proc.stdin.write("".join(json.dumps(m) + "\n" for m in LIST))
            proc.stdin.flush()
            listed = proc.stdout.readline()
            done = time.perf_counter() - t
            try:
                assert "result" in json.loads(init), init
                tools = [tool["name"] for tool in json.loads(listed)["result"]["tools"]]
            except (ValueError, KeyError, AssertionError):
                errors.seek(0)
                raise RuntimeError(f"{cmd[:4]} did not answer: {init!r} {listed!r} {errors.read()[-2000:]}") from None
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return initialized, done, tools


def _ms(s: float) -> str:
    return f"{s * 1000:.0f} ms"


def _largest(top: dict[str, float], n: int = 6) -> str:
    return ", ".join(f"{m} {ms:.0f}" for m, ms in sorted(top.items(), key=lambda kv: -kv[1])[:n])


def run(data: Path) -> Section:
    db = str(prepare(data))
    mcp = [*CLI, "mcp", "--db", db]
    usage = [*USAGE, "--db", db]
    cmds = {
        "floor": FLOOR,
        "engine": ENGINE,
        "help": [*CLI, "--help"],
        "usage": [*CLI, *usage],
        "usage_np": [*NO_PANDAS, *usage],
    }
    imp: dict[str, list[float]] = {k: [] for k in cmds}
    wal: dict[str, list[float]] = {k: [] for k in cmds}
    top: dict[str, dict[str, float]] = {}
    rdy: dict[str, list[tuple[float, float]]] = {"ours": [], "sdk": []}
    tools: list[str] = []
    for i in range(RUNS + 1):  # the first round warms caches (bytecode, page cache) and is not counted
        for key, cmd in cmds.items():
            ms, top[key] = imports(cmd)
            seconds = wall(cmd)
            if i:
                imp[key].append(ms)
                wal[key].append(seconds)
        for key, cmd in (("ours", mcp), ("sdk", SDK_SERVER)):
            initialized, listed, names = ready(cmd)
            tools = names if key == "ours" else tools
            if i:
                rdy[key].append((initialized, listed))
    assert tools == ["usage", "teams_list", "projects_list", "team_members_list"], tools
    im = {k: statistics.median(v) for k, v in imp.items()}
    wa = {k: statistics.median(v) for k, v in wal.items()}
    init = {k: statistics.median(r[0] for r in v) for k, v in rdy.items()}
    listed = {k: statistics.median(r[1] for r in v) for k, v in rdy.items()}
    for k in cmds:
        print(f"[startup] {k}: imports {im[k]:.0f} ms, wall {wa[k] * 1000:.0f} ms", flush=True)
    print(f"[startup] mcp ready {init['ours']:.3f} s (SDK floor {init['sdk']:.3f} s)", flush=True)

    def met_imports(ms: float) -> str:
        return "yes" if ms <= IMPORTS_MS else f"**no** ({ms - IMPORTS_MS:.0f} ms over)"

    def met_ready(s: float) -> str:
        return "yes" if s <= READY_S else "**no**"

    floor, engine = f"`python -c pass` {im['floor']:.0f} ms", f"`import duckdb, pyarrow` {im['engine']:.0f} ms"
    rows = [
        Row(
            "`usagelens --help`: imports",
            f"{im['help']:.0f} ms",
            floor,
            f"+{im['help'] - im['floor']:.0f} ms",
            f"≤ {IMPORTS_MS:.0f} ms",
            met_imports(im["help"]),
        ),
        Row(
            "`usagelens --help`: wall time",
            _ms(wa["help"]),
            f"`python -c pass` {_ms(wa['floor'])}",
            f"+{(wa['help'] - wa['floor']) * 1000:.0f} ms",
            "—",
            "—",
        ),
        Row(
            "one-shot `usagelens usage --db FILE --team T` (20k events): imports",
            f"{im['usage']:.0f} ms",
            engine,
            f"{im['usage'] / im['engine']:.1f}× (+{im['usage'] - im['engine']:.0f} ms)",
            f"≤ {IMPORTS_MS:.0f} ms",
            met_imports(im["usage"]),
        ),
        Row(
            "the same `usage`: wall time",
            _ms(wa["usage"]),
            f"`import duckdb, pyarrow` {_ms(wa['engine'])}",
            f"{wa['usage'] / wa['engine']:.1f}× (+{(wa['usage'] - wa['engine']) * 1000:.0f} ms)",
            "—",
            "—",
        ),
        Row(
            "the same `usage` without pandas installed (a plain install): imports",
            f"{im['usage_np']:.0f} ms",
            engine,
            f"{im['usage_np'] / im['engine']:.1f}× (+{im['usage_np'] - im['engine']:.0f} ms)",
            f"≤ {IMPORTS_MS:.0f} ms",
            met_imports(im["usage_np"]),
        ),
        Row(
            "the same `usage` without pandas: wall time",
            _ms(wa["usage_np"]),
            f"`import duckdb, pyarrow` {_ms(wa['engine'])}",
            f"{wa['usage_np'] / wa['engine']:.1f}× (+{(wa['usage_np'] - wa['engine']) * 1000:.0f} ms)",
            "—",
            "—",
        ),
        Row(
            "`usagelens mcp --db FILE` (stdio): `initialize` answered, from spawn",
            f"{init['ours']:.2f} s",
            f"SDK's minimal server {init['sdk']:.2f} s",
            f"{init['ours'] / init['sdk']:.1f}× (+{_ms(init['ours'] - init['sdk'])})",
            f"≤ {READY_S:.0f} s",
            met_ready(init["ours"]),
        ),
        Row(
            "the same server: `tools/list` answered, from spawn",
            f"{listed['ours']:.2f} s",
            f"SDK's minimal server {listed['sdk']:.2f} s",
            f"{listed['ours'] / listed['sdk']:.1f}×",
            f"≤ {READY_S:.0f} s",
            met_ready(listed["ours"]),
        ),
    ]
    pandas_ms = top["usage"].get("pandas", 0.0)
    return Section(
        NAME + ("-quick" if QUICK else ""),
        TITLE + (" — quick profile" if QUICK else ""),
        "Each figure is a fresh process, the median of "
        f"{RUNS} interleaved rounds (one more, first, warms the caches). Imports: the sum of the top-level "
        "entries of `python -X importtime` (the interpreter's own start-up imports included). Wall time: "
        "spawn to exit. MCP: spawn until the server has answered `initialize` (then `tools/list`) sent as "
        "JSON-RPC lines on its stdin, as a stdio host starts it. `usage` reads a "
        f"{DEMO.events:,}-event demo store ({TEAM}, {USAGE[4]} → {USAGE[6]}, table output). Baselines in "
        'the same rounds: `python -c pass`, `python -c "import duckdb, pyarrow"` (the engine\'s own '
        "floor) and the MCP SDK's minimal stdio server (one no-op tool).",
        rows,
        [
            f"Largest top-level imports (ms, last round): `--help`: {_largest(top['help'])}; "
            f"`usage`: {_largest(top['usage'])}; `usage` without pandas: {_largest(top['usage_np'])}.",
            "`--help` imports neither DuckDB, pyarrow, numpy nor pydantic; a one-shot `usage` imports "
            "DuckDB and pyarrow (its engine) but not pydantic, FastAPI, the MCP SDK, uvicorn, httpx or "
            "Rich's progress bars (`tests/test_cli_errors.py` keeps it so).",
            f"pandas ({pandas_ms:.0f} ms in the last round) is not ours: it is installed here only by the "
            "chdb extra, and pyarrow imports it the first time Python values become Arrow (`pa.scalar`, "
            "`pa.array`, `pa.table` of lists …), which the read path does; without it (a plain install, "
            "measured by making `import pandas` fail) the same command is the third row pair.",
        ],
    )


__all__ = ["NAME", "TITLE", "run"]
