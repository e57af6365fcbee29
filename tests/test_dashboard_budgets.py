"""The dashboard's budget card and burn-down line, end to end in headless Chromium: a real uvicorn
over a DuckDB store of demo events with a team budget, read with an analytics key through the
public REST API only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from browser import PageLog, api, chromium, have_chromium, settle
from http_server import serving
from usagelens.auth import Caller, KeyStore
from usagelens.budgets.registry import add_grant, set_budget
from usagelens.demo import DemoSpec
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.cli.store import load_demo
from usagelens.surfaces.http import create_app

pytestmark = pytest.mark.skipif(
    not have_chromium(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
)
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "dashboard-budgets.png"
TEAM = "team_b_1"
PERIOD = "30d"
SO_FAR = 15  # the budget's period began 14 days ago: 15 of its 30 days have begun, today included
VIEW = f"/?team_id={TEAM}&range=last-31&timezone=UTC"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


class Server:
    """A keyed server: its URL and team_b_1's analytics key."""

    def __init__(self, url: str, secret: str) -> None:
        self.url, self.secret = url, secret

    def usage(self, **params: str) -> Any:
        """team_b_1's usage answer (UTC), every number as its exact text."""
        auth = {"authorization": f"Bearer {self.secret}"}
        return api(self.url, "/v1/usage", {"team_id": TEAM, "timezone": "UTC", **params}, auth)


@contextmanager
def server(budget: bool) -> Iterator[Server]:
    """Demo events up to yesterday (UTC); with ``budget``, team_b_1 gets a 30-day budget that began
    14 days ago, about 1.5 times what it used since (so the forecast runs past it), and a grant."""
    today = datetime.now(UTC).date()
    ledger = DuckDBLedger(":memory:")
    load_demo(ledger, DemoSpec(seed=11, events=3_000, days=20, end=today - timedelta(days=1)))
    key = KeyStore(ledger).create(TEAM, "analytics")
    try:
        with serving(create_app(ledger)) as url:
            s = Server(url, f"{key.key}:{key.secret}")
            if budget:
                start = today - timedelta(days=SO_FAR - 1)
                used = Decimal(s.usage(start_date=start.isoformat(), end_date=today.isoformat())["totals"]["totalCU"])
                cu = (used * 3 / 2).quantize(Decimal(1000))
                set_budget(ledger, Caller.local(), TEAM, cu=str(cu), period=PERIOD, anchor=start.isoformat())
                add_grant(ledger, Caller.local(), TEAM, cu="5000", expires=(today + timedelta(days=60)).isoformat())
            yield s
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def budgeted() -> Iterator[Server]:
    with server(budget=True) as s:
        yield s


@pytest.fixture(scope="module")
def unbudgeted() -> Iterator[Server]:
    with server(budget=False) as s:
        yield s


@pytest.fixture
def log() -> PageLog:
    return PageLog()


def open_dashboard(browser: Browser, s: Server, log: PageLog) -> Page:
    """A fresh tab holding the key (as after the key form), on team_b_1's last 31 days."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(f"sessionStorage.setItem('usagelens.key', {s.secret!r})")
    page = context.new_page()
    page.set_default_timeout(20_000)
    log.watch(page)
    page.goto(s.url + VIEW)
    assert settle(page) == "ready"
    return page


def grouped(text: str) -> str:
    """The API's text with thousands separators, as the page writes it (format.js ``exact``)."""
    whole, _, frac = text.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


def rounded(text: str) -> str:
    """A CU figure rounded for the eye (whole CU from 100 up)."""
    return f"{Decimal(text).quantize(Decimal(1), ROUND_HALF_UP):,}"


def pretty(day: str) -> str:
    y, m, d = day.split("-")
    return f"{int(d)} {MONTHS[int(m) - 1]} {y}"


def test_the_budget_card_and_burn_down_show_the_apis_budget(browser: Browser, budgeted: Server, log: PageLog):
    page = open_dashboard(browser, budgeted, log)
    answer = budgeted.usage()
    want = answer["budgets"]["items"][0]
    card = page.locator(f'#budgets .budget[data-budget="{TEAM}"]')
    expect(card).to_have_count(1)

    def fig(name: str) -> Any:
        return card.locator(f"[data-field={name}]")

    for name in ("allowanceCU", "usedCU", "remainingCU", "usedPercent", "grantsRemainingCU"):
        assert fig(name).get_attribute("data-value") == want[name], name
    for name in ("allowanceCU", "usedCU", "remainingCU", "grantsRemainingCU"):
        assert fig(name).get_attribute("title") == f"{grouped(want[name])} CU", name  # exact on hover
    forecast = fig("forecastCU").get_attribute("data-value") or ""  # moves with the clock (60-s answers)
    assert fig("forecastCU").get_attribute("title") == f"{grouped(forecast)} CU"
    assert abs(Decimal(forecast) / Decimal(want["forecastCU"]) - 1) < Decimal("0.01")
    assert fig("allowanceCU").inner_text() == f"{rounded(want['allowanceCU'])} CU"
    assert fig("usedCU").inner_text() == rounded(want["usedCU"])
    period = want["period"]
    assert fig("period").inner_text() == f"{pretty(period['start'])} – {pretty(period['end'])} (UTC)"
    assert want["runsOutOn"] is not None  # the allowance is 1.5 times the use of half the period
    assert fig("runsOutOn").get_attribute("data-value") == want["runsOutOn"]
    assert fig("runsOutOn").inner_text() == pretty(want["runsOutOn"])
    assert float(card.locator(".progress").get_attribute("aria-valuenow") or "") == float(want["usedPercent"])
    expect(page.locator("#budget-note")).to_contain_text(answer["budgets"]["forecastMethod"])

    chart = page.locator("#p-burndown .chart")
    expect(chart.locator("canvas")).to_have_count(1)
    assert chart.get_attribute("data-budget") == TEAM
    assert chart.get_attribute("data-days") == "30"
    assert chart.get_attribute("data-used-points") == str(SO_FAR)
    drawn = Decimal(chart.get_attribute("data-used-total") or "")
    assert abs(drawn - Decimal(want["usedCU"])) < Decimal("0.01")  # the line ends at the card's use
    expect(chart.locator(".u-legend")).to_contain_text("Forecast")
    expect(chart.locator(".u-legend")).to_contain_text("With grants")  # the line runsOutOn is about

    daily = [parse_qs(urlsplit(u).query) for u, _ in log.api_calls(budgeted.url) if "usages.daily" in u]
    period_calls = [q for q in daily if q["start_date"] == [period["start"]]]
    assert len(period_calls) == 1 and period_calls[0]["timezone"] == ["UTC"]  # one extra call

    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000

    project = page.locator("#f-project option").nth(1).get_attribute("value") or ""
    page.select_option("#f-project", project)  # a project's answer carries no team budget
    assert settle(page) in ("ready", "empty")
    expect(page.locator("#budgets")).to_be_hidden()
    expect(page.locator("#p-burndown")).to_be_hidden()
    assert "budgets" not in budgeted.usage(project_id=project)
    assert log.foreign(budgeted.url) == [] and log.errors == []
    page.context.close()


def test_a_store_without_budgets_shows_no_card_and_no_burn_down(browser: Browser, unbudgeted: Server, log: PageLog):
    page = open_dashboard(browser, unbudgeted, log)
    assert "budgets" not in unbudgeted.usage()
    expect(page.locator("#budgets")).to_be_hidden()
    expect(page.locator(".budget")).to_have_count(0)
    expect(page.locator("#p-burndown")).to_be_hidden()
    expect(page.locator("#p-burndown canvas")).to_have_count(0)
    expect(page.locator(".chart canvas")).to_have_count(2)  # the two daily charts, as before
    assert len([u for u, _ in log.api_calls(unbudgeted.url) if "usages.daily" in u]) == 1  # the daily chart's only
    assert log.errors == []
    page.context.close()
