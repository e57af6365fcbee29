"""Scenario's official SDK (scenario-sdk 2.4.0, strict response validation) against our server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal

import pytest
from scenario_sdk import Scenario

from http_server import serving
from usagelens.auth import Caller, KeyStore
from usagelens.query import UsageArgs
from usagelens.service import usage
from usagelens.surfaces.http import create_app

TEAM = "team_b_0"
APRIL = {"start_date": "2026-04-01", "end_date": "2026-04-30"}


@pytest.fixture(scope="module")
def server(demo_ledger) -> Iterator[tuple[str, str, str]]:
    key = KeyStore(demo_ledger).create(TEAM, "analytics")
    with serving(create_app(demo_ledger, require_keys=True)) as url:
        yield url, key.key, key.secret


@pytest.fixture(scope="module")
def sdk(server) -> Iterator[Scenario]:
    url, key, secret = server
    with Scenario(api_key=key, api_secret=secret, base_url=f"{url}/v1", _strict_response_validation=True) as client:
        yield client


def _summary(demo_ledger, **kw):
    args = UsageArgs(team_id=TEAM, **(APRIL | kw))
    return usage(demo_ledger, Caller(kind="analytics", team_id=TEAM), args, now=datetime(2026, 5, 1)).data


def test_every_section_parses_strictly_and_matches_the_summary(sdk, demo_ledger):
    r = sdk.usages.list(start_date="2026-04-01", end_date="2026-04-30")
    d = _summary(demo_ledger, include=["consumption", "modelUsages", "usages", "nsfwUsages"])
    assert sum(Decimal(str(c.value)) for c in r.consumption) == d["totals"]["totalCU"]
    assert [c.user_id for c in r.consumption] == [c["userId"] for c in d["consumption"]]
    model_cu = {m.api_model_id: sum(Decimal(str(p.cost)) for p in m.points) for m in r.api_model_usages}
    assert model_cu == {m["modelId"]: m["totalCU"] for m in d["modelUsages"]}
    counts = {u.usage_name: sum(int(p.value) for p in u.points) for u in r.usages}
    assert counts == {u["usageName"]: u["count"] for u in d["usages"]}
    assert {u.granularity for u in r.usages} == {"1d"}
    assert all(len(u.points) == 30 for u in r.usages)  # zero-filled: every day of April
    assets = {a.kind: sum(p.count for p in a.points) for a in r.asset_usages}
    assert assets == {a["kind"]: a["count"] for a in d["assetUsages"]}
    nsfw = {n.label: sum(p.count for p in n.points) for n in r.nsfw_usages}
    assert nsfw == {n["label"]: n["count"] for n in d["nsfwUsages"]}
    assert len(r.activity) == 100 and r.activity[0].time >= r.activity[-1].time
    assert {u.id for u in r.entities.users} >= {c.user_id for c in r.consumption}


@pytest.mark.parametrize(
    "section", ["usages", "activity", "consumption", "model-usages", "asset-usages", "nsfw-usages"]
)
def test_type_selects_sections(sdk, section):
    r = sdk.usages.list(start_date="2026-04-01", end_date="2026-04-30", type=[section])
    present = {k for k, v in r.model_dump(by_alias=True).items() if v is not None and k != "entities"}
    key = {"model-usages": "modelUsages", "asset-usages": "assetUsages", "nsfw-usages": "nsfwUsages"}.get(
        section, section
    )
    assert present == {key}


def test_filters_and_paging(sdk, demo_ledger):
    d = _summary(demo_ledger, project_ids=["proj_b_1"])
    r = sdk.usages.list(start_date="2026-04-01", end_date="2026-04-30", project_ids="proj_b_1", type=["consumption"])
    assert sum(Decimal(str(c.value)) for c in r.consumption) == d["totals"]["totalCU"]
    users = [c["userId"] for c in d["consumption"]][:2]
    r = sdk.usages.list(start_date="2026-04-01", end_date="2026-04-30", user_ids=",".join(users), type=["consumption"])
    assert {c.user_id for c in r.consumption} == set(users)
    first = sdk.usages.list(start_date="2026-04-01", end_date="2026-04-30", type=["activity"])
    second = sdk.usages.list(start_date="2026-04-01", end_date="2026-04-30", type=["activity"], activity_offset=100)
    assert first.activity[-1].time >= second.activity[0].time


def test_hourly_granularity_and_dropped_zero_points(sdk):
    # four days: 192 half hours are more than 150 points, 96 hours are not (CONTRACT §3)
    r = sdk.usages.list(start_date="2026-04-10T00:00:00Z", end_date="2026-04-14T00:00:00Z", type=["usages"])
    assert {u.granularity for u in r.usages} == {"1h"} and all(len(u.points) == 96 for u in r.usages)
    dropped = sdk.usages.list(
        start_date="2026-04-10T00:00:00Z", end_date="2026-04-14T00:00:00Z", type=["usages"], drop_zero_points=True
    )
    assert all(int(p.value) > 0 for u in dropped.usages for p in u.points)


def test_teams_list_parses(sdk):
    teams = sdk.teams.list()
    assert [t.id for t in teams.teams] == [TEAM]  # an analytics key sees its team only
    assert teams.teams[0].name == "Aurora Studios" and len(teams.teams[0].projects) >= 4
