"""The ledger's vocabulary: event and entity fields, asset kinds, and their Arrow schemas.

Callers can rely on:
- ``EVENT_SCHEMA`` is the one columnar shape every producer (file ingest, REST ingest, demo,
  sync) hands to ``Ledger.write_events``; times are UTC, CU are exact decimals (``CU_TYPE``).
- ``ENTITY_SCHEMAS[kind]`` is the shape ``Ledger.upsert_entities(kind, …)`` accepts.
- JSON field names (camelCase, CONTRACT §1) map to column names (snake_case) through ``Field``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "CU_SCALE",
    "CU_TYPE",
    "ENTITY_FIELDS",
    "ENTITY_KINDS",
    "ENTITY_SCHEMAS",
    "EVENT_FIELDS",
    "EVENT_SCHEMA",
    "VOID_SCHEMA",
    "AssetKind",
    "Field",
    "FieldType",
    "VoidResult",
    "WriteResult",
    "cu",
    "with_defaults",
]

#: CU are stored with 6 fractional digits (CONTRACT §1 asks for at least 4).
CU_SCALE = 6
CU_TYPE = pa.decimal128(18, CU_SCALE)


def cu(value: str | int | Decimal) -> Decimal:
    """An exact CU amount quantized to the ledger's scale (raises on inexact input)."""
    d = Decimal(value)
    q = d.quantize(Decimal(1).scaleb(-CU_SCALE))
    if q != d:
        raise ValueError(f"{value} has more than {CU_SCALE} decimal places")
    return q


class AssetKind(StrEnum):
    """Kinds of assets an action can create (CONTRACT §1)."""

    THREE_D = "3d"
    AUDIO = "audio"
    DOCUMENT = "document"
    IMAGE = "image"
    IMAGE_HDR = "image-hdr"
    JSON = "json"
    TEXT = "text"
    VIDEO = "video"


class FieldType(StrEnum):
    """How a field is parsed and checked on ingest."""

    STRING = "string"
    TIME = "time"
    DECIMAL = "decimal"
    NONNEG_DECIMAL = "nonneg-decimal"
    BOOL = "bool"
    ASSET_KIND = "asset-kind"
    LABELS = "labels"


@dataclass(frozen=True)
class Field:
    """One field of a record: its JSON name, column name, type and whether it is required."""

    name: str
    column: str
    type: FieldType
    required: bool = False


_S, _T, _D, _N, _B, _K, _L = (
    FieldType.STRING,
    FieldType.TIME,
    FieldType.DECIMAL,
    FieldType.NONNEG_DECIMAL,
    FieldType.BOOL,
    FieldType.ASSET_KIND,
    FieldType.LABELS,
)

EVENT_FIELDS: tuple[Field, ...] = (
    Field("id", "id", _S, True),
    Field("time", "time", _T, True),
    Field("teamId", "team_id", _S, True),
    Field("projectId", "project_id", _S, True),
    Field("userId", "user_id", _S, True),
    Field("action", "action", _S, True),
    Field("creativeUnitsCost", "cu", _D),
    Field("discount", "discount", _N),
    Field("isApiKey", "is_api_key", _B),
    Field("modelId", "model_id", _S),
    Field("jobId", "job_id", _S),
    Field("assetId", "asset_id", _S),
    Field("collectionId", "collection_id", _S),
    Field("assetKind", "asset_kind", _K),
    Field("nsfw", "nsfw", _L),
)

_ARROW = {
    _S: pa.string(),
    _T: pa.timestamp("us"),
    _D: CU_TYPE,
    _N: CU_TYPE,
    _B: pa.bool_(),
    _K: pa.string(),
    _L: pa.list_(pa.string()),
}


def _schema(fields: tuple[Field, ...]) -> pa.Schema:
    return pa.schema([pa.field(f.column, _ARROW[f.type], nullable=not f.required) for f in fields])


#: Columns of a validated event batch; ``time`` is a UTC instant without zone.
EVENT_SCHEMA = _schema(EVENT_FIELDS)
#: A void (CONTRACT §1 corrections): the voided event as it was stored, then who voided it
#: (a key id, or ``local``), when (naive UTC) and why.
VOID_SCHEMA = pa.schema(
    [
        *EVENT_SCHEMA,
        pa.field("voided_at", pa.timestamp("us"), nullable=False),
        pa.field("voided_by", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
    ]
)


def with_defaults(batch: pa.Table) -> pa.Table:
    """``batch`` (``EVENT_SCHEMA``) with CONTRACT §1's defaults: an absent CU, discount and API-key
    flag are 0, 0 and false. Validation applies them, so no backend ever sees such a null."""
    zero = pa.scalar(0, CU_TYPE)
    for name, default in (("cu", zero), ("discount", zero), ("is_api_key", pa.scalar(False))):
        col = batch[name]
        if col.null_count:
            batch = batch.set_column(batch.schema.get_field_index(name), name, pc.fill_null(col, default))
    return batch


ENTITY_FIELDS: dict[str, tuple[Field, ...]] = {
    "teams": (Field("id", "id", _S, True), Field("name", "name", _S)),
    "projects": (
        Field("id", "id", _S, True),
        Field("teamId", "team_id", _S, True),
        Field("name", "name", _S),
    ),
    "users": (
        Field("id", "id", _S, True),
        Field("fullName", "full_name", _S),
        Field("email", "email", _S),
        Field("isApiKey", "is_api_key", _B),
    ),
    "models": (
        Field("id", "id", _S, True),
        Field("name", "name", _S),
        Field("shortDescription", "short_description", _S),
    ),
    "jobs": (
        Field("id", "id", _S, True),
        Field("jobType", "job_type", _S),
        Field("status", "status", _S),
    ),
    "assets": (
        Field("id", "id", _S, True),
        Field("kind", "kind", _K),
        Field("source", "source", _S),
    ),
}
ENTITY_KINDS: tuple[str, ...] = tuple(ENTITY_FIELDS)
ENTITY_SCHEMAS: dict[str, pa.Schema] = {k: _schema(v) for k, v in ENTITY_FIELDS.items()}


@dataclass(frozen=True)
class WriteResult:
    """What one write did: rows stored and rows skipped because their id was already known."""

    written: int
    duplicates: int


@dataclass(frozen=True)
class VoidResult:
    """What one void did: ids voided now, ids voided before (nothing changed for them), and
    the replacement events written in the same transaction."""

    voided: tuple[str, ...]
    already_voided: tuple[str, ...]
    replacements: WriteResult
