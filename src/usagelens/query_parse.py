"""Parsing of the ``usage`` arguments' values: text, lists, dates, timezones, offsets.

Every function here either returns a value that the window arithmetic and the stores can use
without overflow, or raises ``InvalidArgument`` with one sentence naming the argument, the value
(shown safely: control characters escaped, at most 60 characters) and the fix. Hostile input of
any kind (a date like 2026-02-30, full-width digits, year 0001 or 9999, a 5,000-character
timezone, an offset of 10^12, lone surrogates) ends here, never in a 500.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from usagelens.errors import InvalidArgument

__all__ = [
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_OFFSET",
    "instant",
    "is_date",
    "offset",
    "shown",
    "split",
    "text",
    "texts",
    "zone",
]

#: The days a window may touch (inclusive): safe for Python's datetime arithmetic (a previous
#: period, a day past the end, any UTC offset) and for every backend's timestamp type.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2099, 12, 31)
#: The largest ``activity_offset``: ten million pages of 100 events.
MAX_OFFSET = 1_000_000_000
#: ISO dates and date-times in ASCII digits only (``\d`` would accept full-width and Arabic digits).
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_DATETIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9][0-9:.,+\-Zz]*", re.ASCII)
_DATE_FIX = "use YYYY-MM-DD or an ISO 8601 date-time such as 2026-04-01T00:00:00Z."


def shown(value: object, limit: int = 60) -> str:
    """``value`` as a message may quote it: one line, control characters and lone surrogates
    escaped, cut to ``limit`` characters with "…"."""
    raw = value if isinstance(value, str) else repr(value)
    out = "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode() for c in raw)
    return out if len(out) <= limit else out[: limit - 1] + "…"


def split(*values: str | list[str] | None) -> list[str] | None:
    """Comma-separated and/or repeated values as one list, items stripped, empty ones dropped
    (None when nothing is left): how a query string or a command line gives a list."""
    out: list[str] = []
    for v in values:
        for item in [v] if isinstance(v, str) else (v or []):
            out += [p.strip() for p in item.split(",") if p.strip()]
    return out or None


def text(name: str, value: object) -> str:
    """``value`` as a string argument: text that encodes to UTF-8 (no lone surrogates)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{name}: {shown(value)} is not text; pass a string.", field=name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgument(
            f"{name}: '{shown(value)}' is not valid Unicode text (it holds a lone surrogate); pass UTF-8 text.",
            field=name,
        ) from None
    return value


def texts(name: str, values: list[str] | None) -> list[str] | None:
    """A list argument: each item is valid text (see ``text``)."""
    if values is None:
        return None
    if not isinstance(values, list | tuple):
        raise InvalidArgument(f"{name}: {shown(values)} is not a list; pass a list of strings.", field=name)
    return [text(name, v) for v in values]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def zone(name: str | None) -> ZoneInfo:
    """The IANA timezone ``name`` (UTC when absent); only names of the tz database are looked up,
    never a path of any length."""
    name = name or "UTC"
    if name not in _zones():
        raise InvalidArgument(
            f"timezone: '{shown(text('timezone', name))}' is not an IANA timezone; use a name such as UTC, "
            "Europe/Paris or America/New_York.",
            field="timezone",
        )
    return ZoneInfo(name)


def is_date(value: str) -> bool:
    """Whether ``value`` looks like a plain date (YYYY-MM-DD in ASCII digits)."""
    return _DATE.fullmatch(value) is not None


def _in_range(name: str, value: str, day: date) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise InvalidArgument(
            f"{name}: '{shown(value)}' is outside the dates usagelens answers for; use a date from "
            f"{FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()}.",
            field=name,
        )


def day(name: str, value: str) -> date:
    """A plain date argument (YYYY-MM-DD) within ``FIRST_DAY`` … ``LAST_DAY``."""
    try:
        d = date.fromisoformat(value) if is_date(value) else None
    except ValueError:
        d = None
    if d is None:
        raise InvalidArgument(f"{name}: '{shown(value)}' is not a date; {_DATE_FIX}", field=name)
    _in_range(name, value, d)
    return d


def _local_midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def instant(name: str, value: str, tz: ZoneInfo, end: bool) -> datetime:
    """A window bound as a naive UTC instant: a date is its local midnight (the next one for an
    end); a date-time without offset is read in ``tz``."""
    value = text(name, value)
    if is_date(value):
        d = day(name, value)
        return _local_midnight(d + timedelta(days=1) if end else d, tz)
    t = None
    if len(value) <= 40 and _DATETIME.fullmatch(value):
        try:
            t = datetime.fromisoformat(value)
        except ValueError:
            t = None
    if t is None:
        raise InvalidArgument(f"{name}: '{shown(value)}' is not a date; {_DATE_FIX}", field=name)
    _in_range(name, value, t.date())
    t = t.replace(tzinfo=tz) if t.tzinfo is None else t
    return t.astimezone(UTC).replace(tzinfo=None)


def offset(name: str, value: object, page: int) -> int:
    """A page offset: a whole number from 0 to ``MAX_OFFSET`` (0 when absent)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(
            f"{name}: {shown(value)} must be a whole number ≥ 0 (pages hold {page} events: 0, {page}, {2 * page}, …).",
            field=name,
        )
    if value > MAX_OFFSET:
        raise InvalidArgument(
            f"{name}: {shown(value)} is past the last page usagelens serves; use an offset from 0 to "
            f"{MAX_OFFSET:,}, or narrow the window.",
            field=name,
        )
    return value
