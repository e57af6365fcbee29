"""Scenario's activity entries and entities → the ledger's events and entities (CONTRACT §1).

| Scenario (``GET /v1/usages``, ``activity[]``) | ledger event |
|---|---|
| ``id`` (usagelens extension) | ``id``; else ``sc-`` + a hash of the entry's fields (stable) |
| ``time`` | ``time`` (UTC) |
| request's ``teamId`` (from ``teams.list()``) | ``teamId`` |
| ``projectId``, ``userId``, ``action`` | ``projectId``, ``userId``, ``action`` |
| ``creativeUnitsCost`` | ``creativeUnitsCost`` (absent → 0) |
| ``creativeUnitsDiscount`` (usagelens extension) | ``discount`` (absent → 0) |
| ``data.isApiKey`` | ``isApiKey`` (absent → the user entity's ``isApiKey``, else false) |
| ``data.modelId`` / ``jobId`` / ``assetId`` / ``collectionId`` | same fields |
| ``data.assetKind`` (extension), else ``entities.assets[].kind`` | ``assetKind`` |
| ``data.nsfw`` (extension) | ``nsfw`` |

Entries whose ``action`` is not one of Scenario's usage types (administrative actions such as
``update-team``) and that carry no CU are not usage events: ``is_usage`` is False for them.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from typing import Any, get_args

from scenario_sdk.types.usage_list_response import Usage

from usagelens.jsonout import instant
from usagelens.model import AssetKind
from usagelens.sources.scenario.plan import parse_instant
from usagelens.sources.scenario.rows import Malformed, to_cu

__all__ = ["USAGE_NAMES", "assign_ids", "entity_rows", "is_usage", "to_event"]

#: Scenario's usage types (``usages[].usageName`` in scenario-sdk 2.4.0).
USAGE_NAMES: frozenset[str] = frozenset(get_args(Usage.model_fields["usage_name"].annotation))
_KINDS = {k.value for k in AssetKind}


def _text(e: dict[str, Any], name: str) -> str | None:
    v = e.get(name)
    return v if isinstance(v, str) else None


def _opt_str(data: dict[str, Any], name: str) -> str | None:
    v = data.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise Malformed(f"'{name}' is not a string")
    return v


def is_usage(entry: dict[str, Any]) -> bool:
    """True for entries that are usage events (a usage type, or any CU charged or discounted)."""
    if entry.get("action") in USAGE_NAMES:
        return True
    return any(entry.get(k) not in (None, 0) for k in ("creativeUnitsCost", "creativeUnitsDiscount"))


def to_event(
    entry: dict[str, Any], team_id: str, asset_kinds: dict[str, str], api_users: dict[str, bool]
) -> dict[str, Any]:
    """One activity entry as a ledger event row (without ``id``; see ``assign_ids``)."""
    if not isinstance(entry, dict):
        raise Malformed("an activity entry is not an object")
    data = entry.get("data") or {}
    if not isinstance(data, dict):
        raise Malformed("an activity entry's 'data' is not an object")
    for name in ("action", "projectId", "userId", "time"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            raise Malformed(f"an activity entry has no '{name}'")
    discount = to_cu(entry.get("creativeUnitsDiscount") or 0)
    if discount < 0:
        raise Malformed(f"an activity entry has a negative discount ({discount})")
    asset_id = _opt_str(data, "assetId")
    kind = _opt_str(data, "assetKind") or (asset_kinds.get(asset_id) if asset_id else None)
    nsfw = data.get("nsfw")
    if nsfw is not None and not (isinstance(nsfw, list) and all(isinstance(x, str) for x in nsfw)):
        raise Malformed("an activity entry's 'data.nsfw' is not a list of labels")
    is_api = data.get("isApiKey")
    if is_api is None:
        is_api = api_users.get(entry["userId"], False)
    return {
        "id": entry.get("id") if isinstance(entry.get("id"), str) and entry.get("id") else None,
        "time": parse_instant(entry["time"]),
        "team_id": team_id,
        "project_id": entry["projectId"],
        "user_id": entry["userId"],
        "action": entry["action"],
        "cu": to_cu(entry.get("creativeUnitsCost") or 0),
        "discount": discount,
        "is_api_key": bool(is_api),
        "model_id": _opt_str(data, "modelId"),
        "job_id": _opt_str(data, "jobId"),
        "asset_id": asset_id,
        "collection_id": _opt_str(data, "collectionId"),
        "asset_kind": kind if kind in _KINDS else None,
        "nsfw": list(nsfw) if nsfw else None,
    }


def _fingerprint(entry: dict[str, Any], event: dict[str, Any]) -> str:
    raw = entry.get("data")
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    fields = [
        instant(event["time"]),
        event["project_id"],
        event["user_id"],
        event["action"],
        str(event["cu"]),
        str(event["discount"]),
        {k: v for k, v in sorted(data.items()) if v is not None},
    ]
    text = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return "sc-" + hashlib.sha256(text.encode()).hexdigest()[:32]


def assign_ids(entries: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    """Give every event a stable id: the upstream ``id`` when there is one, else a fingerprint of
    the entry; identical entries (same instant, same fields) are numbered ``-2``, ``-3``, … in
    the order Scenario lists them, which stays the same as they always fall in the same window."""
    seen: Counter[str] = Counter()
    for entry, event in zip(entries, events, strict=True):
        if event["id"] is None:
            base = _fingerprint(entry, event)
            seen[base] += 1
            event["id"] = base if seen[base] == 1 else f"{base}-{seen[base]}"


def entity_rows(entities: object) -> dict[str, list[dict[str, Any]]]:
    """Users, models, jobs and assets of a response's ``entities``, in ledger columns."""
    if not isinstance(entities, dict):
        return {}
    shapes = {
        "users": lambda e: {
            "id": e["id"],
            "full_name": _text(e, "fullName"),
            "email": _text(e, "email"),
            "is_api_key": bool(e.get("isApiKey")),
        },
        "models": lambda e: {
            "id": e["id"],
            "name": _text(e, "name"),
            "short_description": _text(e, "shortDescription"),
        },
        "jobs": lambda e: {"id": e["id"], "job_type": _text(e, "jobType"), "status": _text(e, "status")},
        "assets": lambda e: {
            "id": e["id"],
            "kind": e.get("kind") if e.get("kind") in _KINDS else None,
            "source": _text(e, "source"),
        },
    }
    out: dict[str, list[dict[str, Any]]] = {}
    for kind, shape in shapes.items():
        items = entities.get(kind) or []
        if not isinstance(items, list):
            raise Malformed(f"'entities.{kind}' is not a list")
        out[kind] = [shape(e) for e in items if isinstance(e, dict) and isinstance(e.get("id"), str)]
    return out
