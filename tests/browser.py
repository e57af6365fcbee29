"""Headless Chromium from Debian's ``chromium`` package, driven by Playwright, for the dashboard tests.

``npx playwright install`` cannot download browsers here, so Playwright launches the system
binary (``executable_path``). Playwright gives each launch a fresh temporary profile (it refuses
``--user-data-dir`` in ``args``); the flags below keep Chromium from talking to anything but the
page's own server.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
]
#: Every state in which the page has finished loading (body[data-state]).
SETTLED = ", ".join(f"body[data-state={s}]" for s in ("ready", "empty", "error", "auth"))


def have_chromium() -> bool:
    return Path(CHROMIUM).exists()


@contextmanager
def chromium() -> Iterator[Browser]:
    """One headless Chromium for the block."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageLog:
    """What a page did: the URLs it requested, their headers, and its errors."""

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("request", lambda r: self.requests.append((r.url, r.headers)))
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))

    def foreign(self, base: str) -> list[str]:
        """Requested URLs outside ``base`` (blob: downloads are the page's own)."""
        return [u for u, _ in self.requests if not (u.startswith(base + "/") or u.startswith("blob:"))]

    def api_calls(self, base: str) -> list[tuple[str, dict[str, str]]]:
        return [(u, h) for u, h in self.requests if u.startswith(base + "/v1/")]


def settle(page: Page, timeout: float = 20_000) -> str:
    """Wait until the dashboard has finished loading; its body[data-state]."""
    page.wait_for_selector(SETTLED, state="attached", timeout=timeout)
    return page.get_attribute("body", "data-state") or ""


def api(base: str, path: str, params: Any = None, headers: dict[str, str] | None = None) -> Any:
    """The API's JSON with every number kept as its exact text (as the page must show it)."""
    r = httpx.get(base + path, params=params, headers=headers, timeout=30)
    r.raise_for_status()
    return json.loads(r.text, parse_float=str, parse_int=str)


def csv_cell(v: Any) -> str:
    """How a JSON value reads in the dashboard's CSV files."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)
