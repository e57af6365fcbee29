"""Fact rows into the shape ``UsageReader.facts`` promises, whichever backend summed them.

Backends return one row per (keys, API-key flag); ``split_api`` folds the flag into the
``api_*`` measures, fixes the types (counts int64, sums decimal128(38, 6)) and sorts by keys,
so two backends that summed the same events give equal tables.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from usagelens.ledger.base import BASE_MEASURES, FACT_MEASURES
from usagelens.model import WriteResult

__all__ = ["split_api", "split_results"]


def split_api(table: pa.Table, keys: list[str]) -> pa.Table:
    """Rows per (keys, is_api_key) → one row per keys with ``FACT_MEASURES``, sorted by keys.

    Counts are int64 and CU decimal128(38, 6) whatever the path.
    """
    if not keys:  # totals: at most two rows, cheaper in Python than in Arrow
        out: dict[str, Any] = {m: Decimal(0) if m.endswith(("cu", "discount")) else 0 for m in FACT_MEASURES}
        for row in table.to_pylist():
            for m in BASE_MEASURES:
                out[m] += row[m]
                if row["is_api_key"]:
                    out[f"api_{m}"] += row[m]
        return pa.table({m: pa.array([out[m]], _TYPES[m.removeprefix("api_")]) for m in FACT_MEASURES})
    cols: dict[str, Any] = {k: table[k] for k in keys}
    for m in BASE_MEASURES:
        col = table[m].cast(_TYPES[m])
        cols[m] = col
        cols[f"api_{m}"] = pc.if_else(table["is_api_key"], col, pa.scalar(0, col.type))
    grouped = pa.table(cols).group_by(keys, use_threads=False).aggregate([(m, "sum") for m in FACT_MEASURES])
    grouped = grouped.rename_columns([n.removesuffix("_sum") for n in grouped.column_names])
    return grouped.select([*keys, *FACT_MEASURES]).sort_by([(k, "ascending") for k in keys])


_CU = pa.decimal128(38, 6)
_TYPES = {"events": pa.int64(), "jobs": pa.int64(), "assets": pa.int64(), "cu": _CU, "discount": _CU}


def split_results(batches: list[pa.Table], keep: Any) -> list[WriteResult]:
    """Each batch's counts of a group write, from the mask of rows written (in batch order)."""
    results, start = [], 0
    for b in batches:
        written = int(keep[start : start + b.num_rows].sum())
        results.append(WriteResult(written, b.num_rows - written))
        start += b.num_rows
    return results
