"""The default answer by team size (issue 11): its bytes and time for 10 to 10,000 identities.

Two synthetic stores of the same four teams (10, 100, 1,000 and 10,000 identities, 20 models
each, events spread evenly over 120 days), one with 1M events and one with 10M: the default
answer's size must not depend on the number of events (only the digits of its sums change), and
grows by one row per identity. Baseline, measured in the same run on the same file: the same
figures by GROUP BY over the raw events table, plus encoding them as JSON.
"""

from __future__ import annotations

import json
import statistics
import warnings
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from bench.common import Row, Section, timed
from usagelens import service
from usagelens.auth import Caller
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.model import CU_TYPE, EVENT_SCHEMA
from usagelens.query import UsageArgs
from usagelens.report.ceiling import SUMMARY_DEFAULT

NAME = "size"
TITLE = "The default answer by team size (issue 11)"
END = date(2026, 11, 24)
DAYS = 120
NOW = datetime(2026, 11, 25, 12)
TEAMS = {"t10": 10, "t100": 100, "t1k": 1_000, "t10k": 10_000}
MODELS = 20
STORES = {"1M": 1_000_000, "10M": 10_000_000, "100M": 100_000_000}
RUNS = 7
_CHUNK = 1_000_000


def _text(prefix: str, values: np.ndarray) -> pa.Array:
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(values), pa.string()), "")


def _batch(rng: np.random.Generator, first: int, n: int) -> pa.Table:
    """``n`` events from id ``first`` on: the four teams in turn, identities and models uniform."""
    idx = np.arange(first, first + n)
    team = idx % len(TEAMS)
    sizes = np.array(list(TEAMS.values()))
    user = (rng.random(n) * sizes[team]).astype(np.int64)
    model = rng.integers(0, MODELS, n)
    start = datetime(END.year, END.month, END.day) + timedelta(days=1) - timedelta(days=DAYS)
    micros = int((start - datetime(1970, 1, 1)).total_seconds() * 1e6) + rng.integers(0, DAYS * 86_400_000_000, n)
    cu = rng.integers(1, 20_000_000, n)
    words = np.zeros((n, 2), dtype=np.int64)
    words[:, 0] = cu
    names = np.array(list(TEAMS))[team]
    team_ids = pa.array(names)
    cols = {
        "id": _text("e", idx),
        "time": pa.array(micros, pa.timestamp("us")),
        "team_id": team_ids,
        "project_id": pc.binary_join_element_wise(team_ids, _text("_p", idx % 3), ""),
        "user_id": pc.binary_join_element_wise(team_ids, _text("_u", user), ""),
        "action": pa.array(np.where(idx % 5 == 0, "upscale", "images-generation")),
        "cu": pa.Array.from_buffers(CU_TYPE, n, [None, pa.py_buffer(words.tobytes())]),
        "discount": pa.Array.from_buffers(CU_TYPE, n, [None, pa.py_buffer(np.zeros(2 * n, np.int64).tobytes())]),
        "is_api_key": pa.array(user % 7 == 0),
        "model_id": pc.binary_join_element_wise(team_ids, _text("_m", model), ""),
        "job_id": _text("j", idx),
        "asset_id": _text("a", idx),
        "collection_id": pa.nulls(n, pa.string()),
        "asset_kind": pa.array(np.where(idx % 5 == 0, "image-hdr", "image")),
        "nsfw": pa.nulls(n, pa.list_(pa.string())),
    }
    return pa.table(cols).cast(EVENT_SCHEMA)


def _store(data: Path, label: str, events: int) -> Path:
    path = data / f"teams{label}.duckdb"
    if not path.exists():
        tmp = data / f"teams{label}.tmp.duckdb"
        tmp.unlink(missing_ok=True)
        rng = np.random.default_rng(11)
        with DuckDBLedger(str(tmp)) as led:
            for first in range(0, events, _CHUNK):
                led.write_events(_batch(rng, first, min(_CHUNK, events - first)))
            led.maintain()  # one rollup row per key and bucket, as after any bulk load
        tmp.rename(path)
    return path


def _naive(led: DuckDBLedger, team: str, start: datetime, end: datetime) -> None:
    """The default answer's figures straight from the raw table, encoded as JSON."""
    cur = led._con.cursor()
    where = f"team_id = '{team}' AND time >= TIMESTAMP '{start}' AND time < TIMESTAMP '{end}'"
    out = []
    for g in ("user_id", "model_id", "asset_kind, action", ""):
        rows = cur.execute(
            f"SELECT {g + ',' if g else ''} is_api_key, count(*), count(job_id), sum(cu)::VARCHAR, "
            f"sum(discount)::VARCHAR FROM events WHERE {where} GROUP BY ALL"
        ).fetchall()
        out.append([list(r) for r in rows])
    prev = f"team_id = '{team}' AND time >= TIMESTAMP '{start - (end - start)}' AND time < TIMESTAMP '{start}'"
    out.append(cur.execute(f"SELECT sum(cu)::VARCHAR FROM events WHERE {prev}").fetchall())
    json.dumps(out)
    cur.close()


def _measure(led: DuckDBLedger, team: str) -> tuple[float, float, int, bool]:
    args = UsageArgs(team_id=team, start_date=(END - timedelta(days=DAYS - 1)).isoformat(), end_date=END.isoformat())
    answer = service.usage(led, Caller.local(), args, now=NOW)

    def cold() -> float:
        service._CACHE.clear()  # measure the engine, not the answer cache
        return timed(lambda: service.usage(led, Caller.local(), args, now=NOW))

    ours = statistics.median(cold() for _ in range(RUNS))
    start = datetime(END.year, END.month, END.day) + timedelta(days=1) - timedelta(days=DAYS)
    naive = statistics.median(timed(lambda: _naive(led, team, start, start + timedelta(days=DAYS))) for _ in range(3))
    return ours * 1000, naive * 1000, len(answer.text.encode()), "truncated" in answer.data


def run(data: Path) -> Section:
    warnings.simplefilter("ignore")
    sizes: dict[str, int] = {}
    rows: list[Row] = []
    for label, events in STORES.items():
        with DuckDBLedger(str(_store(data, label, events)), read_only=True) as led:
            for team, people in TEAMS.items():
                ours, naive, size, cut = _measure(led, team)
                note = f"{size:,} B" + (", truncated" if cut else "")
                if label == "1M":
                    sizes[team] = size
                    target, met = "—", "—"
                else:
                    change = (size - sizes[team]) / sizes[team] * 100
                    target = "size within 2% of 1M's"
                    met = ("yes" if abs(change) <= 2 else "**no**") + f" ({change:+.2f}%)"
                rows.append(
                    Row(
                        f"{people:,} identities, {MODELS} models, {label} events (¼ per team)",
                        f"{ours:.1f} ms ({note})",
                        f"{naive:.1f} ms",
                        f"{naive / ours:.1f}×",
                        target,
                        met,
                    )
                )
    return Section(
        NAME,
        TITLE,
        f"`service.usage` default answer (complete `consumption` and `modelUsages`) for each of four "
        f"synthetic teams ({', '.join(f'{n:,}' for n in TEAMS.values())} identities, {MODELS} models each) "
        f"over {DAYS} days ending {END}, in a 1M-event and a 10M-event store (the same teams, events spread "
        f"evenly); median of {RUNS} calls with the answer cache emptied, the answer's compact JSON size "
        "beside. Baseline: the same figures by GROUP BY over the raw events table of the same file, encoded "
        f"as JSON (median of 3). The default answer's ceiling is {SUMMARY_DEFAULT:,} B "
        "(`USAGELENS_MAX_SUMMARY_BYTES`): a 10,000-identity team passes it and is cut (`truncated`).",
        rows,
        [
            "Size is a constant plus one row per identity (~100 B) and per model (~170 B); from 1M to 10M "
            "events only the digits of the sums change."
        ],
    )


__all__ = ["NAME", "TITLE", "run"]
