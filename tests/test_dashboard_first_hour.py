"""The dashboard's first hour (issue 17, item 5), in headless Chromium against a real uvicorn over
demo events up to today: legend values before any hover, today's partial day, headline figures
rounded with the exact digits on hover, the timezone picker's order, a tooltip naming the model
under the cursor, a project key's view saying which project it shows, From/To fields written as
the page writes dates, and a Change card that says when the previous period is only partly covered."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from browser import PageLog, api, chromium, have_chromium, settle
from http_server import serving
from usagelens.auth import KeyStore
from usagelens.demo import DemoSpec
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.cli.store import load_demo
from usagelens.surfaces.http import create_app

pytestmark = pytest.mark.skipif(
    not have_chromium(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
)
SCREENSHOT = Path(__file__).resolve().parent.parent / "docs" / "dashboard.png"
TEAM = "team_b_1"
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
#: dates.js COMMON_ZONES, in order (the browser's own zone comes before them).
COMMON = ["UTC", "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York"]
CHARTS = ["#p-usage-daily .chart", "#p-model-daily .chart"]


@dataclass
class Server:
    url: str
    analytics: str
    project_key: str
    project: str
    project_name: str

    def usage(self, secret: str, **params: str) -> Any:
        return api(self.url, "/v1/usage", {"team_id": TEAM, **params}, {"authorization": f"Bearer {secret}"})


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    """Demo events up to today (UTC), team_b_1's analytics key and a project key of one project."""
    today = datetime.now(UTC).date()
    ledger = DuckDBLedger(":memory:")
    load_demo(ledger, DemoSpec(seed=11, events=3_000, days=20, end=today))
    keys = KeyStore(ledger)
    analytics = keys.create(TEAM, "analytics")
    try:
        with serving(create_app(ledger)) as url:
            secret = f"{analytics.key}:{analytics.secret}"
            team = api(url, "/v1/teams", headers={"authorization": f"Bearer {secret}"})["teams"][0]
            project = team["projects"][1]
            pk = keys.create(TEAM, "project", project=project["id"])
            yield Server(url, secret, f"{pk.key}:{pk.secret}", project["id"], project["name"])
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def log() -> PageLog:
    return PageLog()


def open_as(browser: Browser, s: Server, secret: str, log: PageLog, query: str, **context: Any) -> Page:
    """A fresh tab holding `secret` (as after the key form), settled on `query`."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800}, **context)
    ctx.add_init_script(f"sessionStorage.setItem('usagelens.key', {secret!r})")
    page = ctx.new_page()
    page.set_default_timeout(20_000)
    log.watch(page)
    page.goto(s.url + "/" + query)
    assert settle(page) == "ready"
    expect(page.locator(".chart canvas")).to_have_count(2)
    return page


def pretty(day: str) -> str:
    y, m, d = day.split("-")
    return f"{int(d)} {MONTHS[int(m) - 1]} {y}"


def grouped(text: str) -> str:
    whole, _, frac = text.partition(".")
    return f"{int(whole):,}" + (f".{frac}" if frac else "")


def legend(page: Page, chart: str) -> list[tuple[str, str]]:
    """(label, value) of each legend row of `chart`, the day first."""
    rows = page.locator(f"{chart} .u-legend .u-series")
    return [
        (rows.nth(i).locator(".u-label").inner_text(), rows.nth(i).locator(".u-value").inner_text())
        for i in range(rows.count())
    ]


def test_legends_show_todays_values_before_any_hover_and_today_is_marked_partial(
    browser: Browser, server: Server, log: PageLog
):
    today = datetime.now(UTC).date().isoformat()
    page = open_as(browser, server, server.analytics, log, f"?team_id={TEAM}&range=last-31&timezone=UTC")
    for chart in CHARTS:
        el = page.locator(chart)
        assert el.get_attribute("data-legend-day") == today
        assert el.get_attribute("data-partial") == today  # today's slot is hatched, labelled "partial"
        rows = legend(page, chart)
        assert rows[0] == ("Day", f"{pretty(today)} · today, so far"), chart
        assert len(rows) > 1 and all(value not in ("", "—", "--") for _, value in rows[1:]), rows
    assert page.locator("#p-model-daily .chart").get_attribute("data-kind") == "area"
    expect(page.locator("#context")).to_contain_text("today so far (partial)")
    expect(page.locator("#scope")).to_be_hidden()  # a team view: no project label

    # the usage types' legend values are today's CU per type, as the API counts them
    want = server.usage(server.analytics, start_date=today, end_date=today, timezone="UTC", include="usages")
    cu = {u["usageName"]: Decimal(u["cu"]) for u in want["usages"]}
    for label, value in legend(page, CHARTS[0])[1:]:
        assert abs(Decimal(value.replace(",", "")) - cu.get(label, Decimal(0))) < Decimal("0.001"), label

    # a range that ended before today has no partial day; its legend shows its last day
    start = (datetime.now(UTC).date() - timedelta(days=15)).isoformat()
    end = (datetime.now(UTC).date() - timedelta(days=3)).isoformat()
    page.goto(f"{server.url}/?team_id={TEAM}&range=custom&start_date={start}&end_date={end}&timezone=UTC")
    assert settle(page) == "ready"
    expect(page.locator(".chart canvas")).to_have_count(2)
    for chart in CHARTS:
        assert page.locator(chart).get_attribute("data-partial") is None
        assert legend(page, chart)[0] == ("Day", f"{pretty(end)} · latest day")
    expect(page.locator("#context")).not_to_contain_text("partial")
    assert log.errors == [] and log.foreign(server.url) == []
    page.context.close()


def test_headline_figures_are_rounded_with_the_exact_digits_on_hover(browser: Browser, server: Server, log: PageLog):
    page = open_as(browser, server, server.analytics, log, f"?team_id={TEAM}&range=last-31&timezone=UTC")
    totals = server.usage(server.analytics, timezone="UTC")["totals"]
    for field in ("totalCU", "totalDiscountCU", "totalBeforeDiscountCU"):
        el = page.locator(f"#totals [data-total={field}]")
        exact = totals[field]
        assert el.get_attribute("data-value") == exact
        assert el.get_attribute("title") == f"{grouped(exact)} CU"
        places = Decimal(1) if abs(Decimal(exact)) >= 100 or "." not in exact else Decimal("0.01")
        assert el.inner_text() == f"{Decimal(exact).quantize(places, ROUND_HALF_UP):,}", field
    for field in ("jobs", "users", "models", "assets"):
        el = page.locator(f"#totals [data-total={field}]")
        assert el.inner_text() == grouped(totals[field]) and el.get_attribute("title") == grouped(totals[field])
    assert log.errors == []
    page.context.close()


def test_the_models_chart_names_the_series_under_the_cursor(browser: Browser, server: Server, log: PageLog):
    page = open_as(browser, server, server.analytics, log, f"?team_id={TEAM}&range=last-31&timezone=UTC")
    over = page.locator("#p-model-daily .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    assert box is not None
    labels = [label for label, _ in legend(page, "#p-model-daily .chart")[1:]]
    assert len(labels) >= 5  # stacked areas, one per model (and "Other … models")
    tip = page.locator("#p-model-daily .chart-tip")
    named = set()
    for day in range(31):
        x = box["x"] + box["width"] * (day + 0.5) / 31
        page.mouse.move(x, box["y"] + box["height"] * 0.97)
        if tip.is_visible():
            named.add(tip.get_attribute("data-series"))
            expect(tip).to_contain_text(tip.get_attribute("data-series") or "")
    assert named and named <= set(labels), (named, labels)
    page.mouse.move(box["x"] - 40, box["y"] - 40)
    expect(tip).to_be_hidden()
    assert log.errors == []
    page.context.close()


def test_the_timezone_picker_offers_the_browsers_zone_then_common_zones(browser: Browser, server: Server, log: PageLog):
    page = open_as(
        browser, server, server.analytics, log, f"?team_id={TEAM}&range=last-7", timezone_id="Pacific/Auckland"
    )
    zones = page.eval_on_selector_all("#f-tz option", "els => els.map(e => e.value)")
    assert zones[0] == "Pacific/Auckland" and page.input_value("#f-tz") == "Pacific/Auckland"
    assert zones[1 : 1 + len(COMMON)] == COMMON
    assert "Europe/Paris" in zones[:15] and len(zones) > 100
    assert len(zones) == len(set(zones))  # each zone once
    groups = page.eval_on_selector_all("#f-tz optgroup", "els => els.map(e => e.label)")
    assert groups == ["This browser", "Common", "All zones"]
    page.select_option("#f-tz", "Europe/Paris")
    assert settle(page) == "ready"
    assert "timezone=Europe%2FParis" in page.url
    assert page.eval_on_selector("#f-tz option", "e => e.value") == "Pacific/Auckland"  # still first
    assert log.errors == []
    page.context.close()


def test_a_project_keys_view_says_which_project_it_shows(browser: Browser, server: Server, log: PageLog):
    page = open_as(browser, server, server.project_key, log, f"?team_id={TEAM}&range=last-31&timezone=UTC")
    scope = page.locator("#scope")
    expect(scope).to_be_visible()
    expect(scope).to_contain_text(f"{server.project_name} ({server.project})")
    expect(scope).to_contain_text("this key reads this project only")
    assert scope.get_attribute("data-project-ids") == server.project
    expect(page.locator("#f-project option")).to_have_count(1)  # no "All projects": it is one project
    assert page.input_value("#f-project") == server.project
    assert f"project_id={server.project}" in page.url
    expect(page.locator("#context")).to_contain_text(f"project {server.project_name}")

    want = server.usage(server.project_key, project_id=server.project, timezone="UTC")
    assert want["scope"]["mode"] == "project" and want["scope"]["projectIds"] == [server.project]
    assert page.get_attribute("[data-total=totalCU]", "data-value") == want["totals"]["totalCU"]
    assert log.errors == [] and log.foreign(server.url) == []
    page.context.close()


def test_the_date_fields_read_as_the_headings_and_accept_iso_and_the_pages_format(
    browser: Browser, server: Server, log: PageLog
):
    today = datetime.now(UTC).date()
    day = lambda n: (today - timedelta(days=n)).isoformat()  # noqa: E731
    page = open_as(
        browser,
        server,
        server.analytics,
        log,
        f"?team_id={TEAM}&range=custom&start_date={day(15)}&end_date={day(3)}&timezone=UTC",
    )
    assert page.get_attribute("#f-start", "type") == "text"
    assert page.input_value("#f-start") == pretty(day(15)) and page.input_value("#f-end") == pretty(day(3))
    expect(page.locator("#context")).to_contain_text(f"{pretty(day(15))} – {pretty(day(3))}")  # one format

    # ISO typed, then Tab: the view follows, the field shows the page's format, the URL stays ISO
    page.fill("#f-start", day(12))
    page.press("#f-start", "Tab")
    assert settle(page) == "ready"
    expect(page).to_have_url(re.compile(f"start_date={day(12)}"))
    assert page.input_value("#f-start") == pretty(day(12))
    expect(page.locator("#context")).to_contain_text(f"{pretty(day(12))} – {pretty(day(3))}")

    # the page's own format (any case), then Enter
    page.fill("#f-end", pretty(day(5)).lower())
    page.press("#f-end", "Enter")
    assert settle(page) == "ready"
    expect(page).to_have_url(re.compile(f"start_date={day(12)}&end_date={day(5)}"))
    assert page.input_value("#f-end") == pretty(day(5))
    assert f"end_date={day(5)}" in (page.get_attribute("body", "data-query") or "")  # the API is asked in ISO

    # not a date: marked, nothing asked, the view and the URL unchanged
    url = page.url
    calls = len(log.api_calls(server.url))
    page.fill("#f-start", "31 Feb 2026")
    page.press("#f-start", "Tab")
    expect(page.locator("#f-start")).to_have_attribute("aria-invalid", "true")
    assert page.url == url and len(log.api_calls(server.url)) == calls

    # the calendar: the browser's own picker, its choice written the page's way
    page.click("button.pick[data-for=f-start]")
    page.keyboard.press("Escape")
    page.eval_on_selector(
        "#f-start-pick", "(el, d) => { el.value = d; el.dispatchEvent(new Event('change', {bubbles: true})); }", day(10)
    )
    assert settle(page) == "ready"
    expect(page).to_have_url(re.compile(f"start_date={day(10)}&end_date={day(5)}"))
    assert page.input_value("#f-start") == pretty(day(10))
    assert page.get_attribute("#f-start", "aria-invalid") is None
    assert log.errors == [] and log.foreign(server.url) == []
    page.context.close()


def test_the_change_card_says_when_the_previous_period_is_only_partly_covered(
    browser: Browser, server: Server, log: PageLog
):
    today = datetime.now(UTC).date()
    start = (today - timedelta(days=12)).isoformat()  # 13 days: the previous 13 start before the data (20 days)
    want = server.usage(server.analytics, start_date=start, end_date=today.isoformat(), timezone="UTC")
    prev = want["totals"]["previousPeriod"]
    assert prev["partial"] is True and prev["changePct"] is not None, prev
    page = open_as(
        browser,
        server,
        server.analytics,
        log,
        f"?team_id={TEAM}&range=custom&start_date={start}&end_date={today.isoformat()}&timezone=UTC",
    )
    change = page.locator("#totals [data-total=changePct]")
    assert change.get_attribute("data-value") == prev["changePct"]
    assert "partial" in (change.get_attribute("class") or "").split()
    assert not {"up", "down"} & set((change.get_attribute("class") or "").split())
    assert "▲" not in change.inner_text() and "▼" not in change.inner_text()  # not shown as a trend
    title = change.get_attribute("title") or ""
    assert f"{grouped(prev['changePct'])}%" in title and "not a trend" in title
    assert pretty(prev["dataFrom"][:10]) in title
    note = page.locator("#previous")
    expect(note).to_have_text(
        f"vs {page.locator('#previous .fig').inner_text()} in a partial previous period "
        f"(data from {pretty(prev['dataFrom'][:10])})"
    )
    assert page.get_attribute("#previous .fig", "data-value") == prev["totalCU"]
    assert note.get_attribute("data-partial") == "true"

    # the last 7 days: the previous 7 are covered, a plain trend again
    whole = server.usage(server.analytics, timezone="UTC", start_date=(today - timedelta(days=6)).isoformat())
    assert "partial" not in whole["totals"]["previousPeriod"]
    page.select_option("#f-range", "last-7")
    assert settle(page) == "ready"
    expect(note).not_to_contain_text("partial")
    assert note.get_attribute("data-partial") == "false"
    assert "partial" not in (change.get_attribute("class") or "").split()
    assert log.errors == [] and log.foreign(server.url) == []
    page.context.close()


def test_a_screenshot_of_the_dashboard_for_the_readme(browser: Browser, server: Server, log: PageLog):
    """docs/dashboard.png: the last 31 days, today partial, legends showing today's values."""
    page = open_as(browser, server, server.analytics, log, f"?team_id={TEAM}&range=last-31&timezone=UTC")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    assert log.errors == [] and log.foreign(server.url) == []
    page.context.close()
