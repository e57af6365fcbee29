"""The dashboard end to end in a real headless Chromium: the page at ``/`` of a real uvicorn,
reading the demo store through the public REST API only."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from browser import PageLog, api, chromium, csv_cell, have_chromium, settle
from http_server import serving
from usagelens.auth import KeyStore
from usagelens.demo import DemoSpec
from usagelens.ledger.duckdb import DuckDBLedger
from usagelens.surfaces.cli.store import load_demo
from usagelens.surfaces.http import create_app

pytestmark = pytest.mark.skipif(
    not have_chromium(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)"
)
TEAM = "team_b_0"
#: A custom range inside SMALL_DEMO's data (2026-03-02 … 2026-04-30).
RANGE = {"start_date": "2026-03-09", "end_date": "2026-04-19", "timezone": "Europe/Paris"}
FULL = {"team_id": TEAM, "start_date": "2026-03-02", "end_date": "2026-04-30", "timezone": "UTC"}
TOTALS = ["totalCU", "totalDiscountCU", "totalBeforeDiscountCU", "jobs", "assets", "users", "models"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture(scope="module")
def base(demo_ledger: DuckDBLedger) -> Iterator[str]:
    with serving(create_app(demo_ledger, require_keys=False)) as url:
        yield url


@pytest.fixture(scope="module")
def keyed() -> Iterator[tuple[str, str, str]]:
    """A server whose store holds keys: (base URL, "key:secret" of team_b_1's analytics key, of its
    ingest key)."""
    ledger = DuckDBLedger(":memory:")
    load_demo(ledger, DemoSpec(seed=11, events=3_000, days=20, end=date(2026, 4, 30)))
    keys = KeyStore(ledger)
    new, ingest = keys.create("team_b_1", "analytics"), keys.create("team_b_1", "ingest")
    with serving(create_app(ledger)) as url:
        yield url, f"{new.key}:{new.secret}", f"{ingest.key}:{ingest.secret}"
    ledger.close()


@pytest.fixture
def log() -> PageLog:
    return PageLog()


@pytest.fixture
def page(browser: Browser, log: PageLog) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    p = context.new_page()
    p.set_default_timeout(20_000)
    log.watch(p)
    yield p
    context.close()


def open_page(page: Page, base: str, query: str = "") -> str:
    page.goto(f"{base}/{query}")
    return settle(page)


def query(params: dict[str, str]) -> str:
    return "?" + urlencode(params)


def shown_totals(page: Page) -> dict[str, tuple[str, str]]:
    """Each headline total as (data-value, exact text on hover without thousands separators and
    unit); the card itself shows the figure rounded for the eye."""
    out = {}
    for field in TOTALS:
        el = page.locator(f"#totals [data-total={field}]")
        title = (el.get_attribute("title") or "").removesuffix(" CU").replace(",", "")
        out[field] = (el.get_attribute("data-value") or "", title)
    return out


def api_error(base: str, params: dict[str, str]) -> str:
    r = httpx.get(base + "/v1/usage", params=params)
    assert r.status_code == 400
    return r.json()["error"]["message"]


def read_csv(page: Page, button: str) -> list[dict[str, str]]:
    with page.expect_download() as d:
        page.click(button)
    text = Path(d.value.path()).read_text(encoding="utf-8")
    return list(csv.DictReader(io.StringIO(text)))


def test_totals_match_the_api_after_picking_a_range_a_project_and_a_timezone(page: Page, base: str, log: PageLog):
    open_page(page, base, f"?team_id={TEAM}")
    project = page.locator("#f-project option").nth(2)
    project_id, project_name = project.get_attribute("value"), project.inner_text()
    page.fill("#f-start", RANGE["start_date"])
    page.fill("#f-end", RANGE["end_date"])
    page.select_option("#f-project", project_id)
    page.select_option("#f-tz", RANGE["timezone"])
    expect(page.locator("body")).to_have_attribute("data-state", "ready")

    want = api(base, "/v1/usage", {"team_id": TEAM, "project_id": project_id, **RANGE})["totals"]
    assert shown_totals(page) == {f: (want[f], want[f]) for f in TOTALS}
    change = page.get_attribute('[data-total="changePct"]', "data-value")
    assert change == (want["previousPeriod"]["changePct"] or "")
    assert project_name in page.inner_text("#context")
    for name, value in [("project_id", project_id), ("range", "custom"), *RANGE.items()]:
        assert f"{name}={value}".replace("/", "%2F") in page.url  # the filters are in the URL

    shared = page.context.new_page()  # the URL alone reproduces the view
    shared.goto(page.url)
    assert settle(shared) == "ready"
    assert shown_totals(shared) == shown_totals(page)
    assert shared.input_value("#f-project") == project_id and shared.input_value("#f-tz") == RANGE["timezone"]
    assert log.foreign(base) == [] and log.errors == []


def test_model_consumer_and_asset_tables_download_as_csv_with_the_api_numbers(page: Page, base: str):
    assert open_page(page, base, query({**FULL, "range": "custom"})) == "ready"
    sections = {
        "#p-models button.csv": ("modelUsages", "modelUsages"),
        "#p-consumers button.csv": ("consumption", "consumption"),
        "#p-assets button.csv": ("usages", "assetUsages"),
        "#p-usages button.csv": ("usages", "usages"),
    }
    for button, (include, key) in sections.items():
        want = api(base, "/v1/usage", {**FULL, "include": include})[key]
        rows = read_csv(page, button)
        assert rows == [{k: csv_cell(v) for k, v in row.items()} for row in want], button
        assert len(rows) > 1
    first = page.locator("#p-models tbody tr").first.locator("td.num").first
    top = api(base, "/v1/usage", {**FULL, "include": "modelUsages"})["modelUsages"][0]
    assert first.get_attribute("data-value") == top["totalCU"]


def test_activity_pages_back_through_the_newest_events(page: Page, base: str):
    open_page(page, base, query({**FULL, "range": "custom"}))
    expect(page.locator("#act-range")).to_contain_text("events 1–100 of")
    page.click("#act-older")
    expect(page.locator("#act-range")).to_contain_text("events 101–200 of")
    expect(page.locator("body")).to_have_attribute("data-state", "ready")
    want = api(base, "/v1/usage", {**FULL, "include": "activity", "activity_offset": 100})["activity"]
    rows = read_csv(page, "#p-activity button.csv")
    assert rows == [{k: csv_cell(v) for k, v in row.items()} for row in want]
    assert page.is_enabled("#act-newer")


def test_a_range_without_usage_gets_a_friendly_message(page: Page, base: str):
    state = open_page(page, base, query({**FULL, "start_date": "2026-01-01", "end_date": "2026-01-31"}))
    assert state == "empty"
    expect(page.locator("#empty-title")).to_have_text("No usage between 1 Jan 2026 and 31 Jan 2026")
    assert page.is_hidden("#p-models") and page.is_hidden("#banner")


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "2026-04-10", "end_date": "2026-04-01"},
        {"timezone": "Mars/Olympus"},
    ],
    ids=["end-before-start", "unknown-timezone"],
)
def test_api_errors_are_shown_in_the_apis_words(page: Page, base: str, params: dict[str, str]):
    q = {**FULL, **params}
    assert open_page(page, base, query(q)) == "error"
    expect(page.locator("#banner")).to_have_text(api_error(base, q))


def test_panels_show_a_loading_state_until_the_api_answers(page: Page, base: str):
    held, hold = [], [True]
    page.route("**/v1/usage?*", lambda route: held.append(route) if hold[0] else route.continue_())
    page.goto(f"{base}/{query({**FULL, 'range': 'custom'})}")
    expect(page.locator("body")).to_have_attribute("data-state", "loading")
    expect(page.locator("#p-models")).to_have_attribute("aria-busy", "true")
    expect(page.locator("#p-models h2")).to_be_visible()
    hold[0] = False
    for route in held:
        route.continue_()
    assert settle(page) == "ready"
    assert page.get_attribute("#p-models", "aria-busy") == "false"


def test_a_keyed_server_asks_for_a_key_once_per_browser_session(page: Page, keyed: tuple[str, str, str], log: PageLog):
    url, secret, ingest = keyed
    assert open_page(page, url) == "auth"
    expect(page.locator("#keyform-reason")).to_contain_text("an API key is required")
    for wrong, why in [("ul_nope:wrong", "not accepted"), (ingest, "can only write events")]:
        page.fill("#key-input", wrong)
        page.click("#keyform button[type=submit]")
        expect(page.locator("#keyform-reason")).to_contain_text(why)
        assert settle(page) == "auth"

    page.fill("#key-input", secret)
    page.click("#keyform button[type=submit]")
    expect(page.locator("#keyform-box")).to_be_hidden()
    assert settle(page) in ("ready", "empty")
    expect(page.locator("#f-team option")).to_have_count(1)
    assert page.input_value("#f-team") == "team_b_1"  # the key's team, the only one it sees
    page.goto(f"{url}/{query({'team_id': 'team_b_1', 'start_date': '2026-04-11', 'end_date': '2026-04-30'})}")
    assert settle(page) == "ready"  # the key outlives a reload in the same tab

    auth = {"authorization": f"Bearer {secret}"}
    want = api(url, "/v1/usage", {"team_id": "team_b_1", "start_date": "2026-04-11", "end_date": "2026-04-30"}, auth)
    assert page.get_attribute("[data-total=totalCU]", "data-value") == want["totals"]["totalCU"]
    assert page.evaluate("sessionStorage.getItem('usagelens.key')") == secret
    calls = log.api_calls(url)
    sent = {h.get("authorization") for _, h in calls}
    assert sent == {None, f"Bearer {secret}", "Bearer ul_nope:wrong", f"Bearer {ingest}"}
    assert calls[-1][1].get("authorization") == f"Bearer {secret}"
    assert all(secret.split(":")[1] not in u for u, _ in log.requests)  # never in a URL

    page.click("#key-forget")
    expect(page.locator("body")).to_have_attribute("data-state", "auth")
    assert page.evaluate("sessionStorage.getItem('usagelens.key')") is None


def test_the_page_fits_a_phone_screen(browser: Browser, base: str, log: PageLog):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        log.watch(page)
        assert open_page(page, base, query({**FULL, "range": "custom"})) == "ready"
        expect(page.locator(".chart canvas")).to_have_count(2)
        width, view = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width <= view, f"the page is {width}px wide on a {view}px screen"
        assert log.errors == []
    finally:
        context.close()
