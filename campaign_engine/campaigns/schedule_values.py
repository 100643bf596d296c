"""How each key of a schedule file is read: one small parser per key, each raising
:class:`ScheduleError` with a message an operator can act on (the caller adds the key)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from campaign_engine.campaigns.presets import PRESETS, find_preset
from campaign_engine.campaigns.windows import DAY_MINUTES, zone

CALLEE = "callee"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


class ScheduleError(ValueError):
    """The schedule cannot be used; the message names the key and the problem."""


def _parse_zone(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ScheduleError(f'expected "callee" or an IANA time zone name, got {value!r}')
    name = value.strip()
    if name.lower() == CALLEE:
        return CALLEE
    return _parse_iana(name)


def _parse_iana(value: Any) -> str:
    if not isinstance(value, str):
        raise ScheduleError(f"expected an IANA time zone name, got {value!r}")
    try:
        zone(value.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {value!r}") from None
    return value.strip()


def _parse_days(value: Any) -> frozenset[int]:
    if not isinstance(value, list) or not value:
        raise ScheduleError('expected a non-empty list such as ["mon", "tue"]')
    days: set[int] = set()
    for item in value:
        name = item.strip().lower() if isinstance(item, str) else ""
        index = _DAY_NAMES.get(name)
        if index is None:
            raise ScheduleError(f"unknown day {item!r} (use {', '.join(WEEKDAYS)})")
        if index in days:
            raise ScheduleError(f"{item!r} is listed twice")
        days.add(index)
    return frozenset(days)


_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DAY_NAMES = {name: i for names in (WEEKDAYS, _FULL_DAYS) for i, name in enumerate(names)}


def parse_window(text: Any) -> tuple[int, int]:
    """``"10:00-13:00"`` -> (600, 780); ``"22:00-02:00"`` runs past midnight -> (1320, 1560)."""
    match = _WINDOW.match(text) if isinstance(text, str) else None
    if match is None:
        raise ScheduleError(f'expected "HH:MM-HH:MM", got {text!r}')
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ScheduleError(f"{text!r} is not a time of day")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ScheduleError(f"{text!r} is empty")
    return (start, end) if end > start else (start, end + DAY_MINUTES)


def _parse_windows(value: Any) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list) or not value:
        raise ScheduleError('expected a non-empty list such as ["10:00-13:00"]')
    windows = sorted(parse_window(item) for item in value)
    for (_, end), (start, _) in pairwise(windows):
        if start < end:
            raise ScheduleError("windows overlap; list each stretch of time once")
    if windows[0][0] + DAY_MINUTES < windows[-1][1]:
        raise ScheduleError("windows overlap across midnight")
    return tuple(windows)


def _parse_date(value: Any) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ScheduleError(f"expected a date (YYYY-MM-DD), got {value!r}")


def _parse_dates(value: Any) -> frozenset[date]:
    if not isinstance(value, list):
        raise ScheduleError('expected a list of dates such as ["2026-12-25"]')
    return frozenset(_parse_date(item) for item in value)


def _parse_bound(value: Any) -> datetime | date:
    """A date, or a date-time with its UTC offset (ISO-8601, TOML or string)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise ScheduleError(f"expected an ISO-8601 date or date-time, got {value!r}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ScheduleError(
                f"{value.isoformat()} has no UTC offset; add one (e.g. +05:30 or Z) "
                "or give a plain date"
            )
        return value.astimezone(UTC)
    if isinstance(value, date):
        return value
    raise ScheduleError(f"expected an ISO-8601 date or date-time, got {value!r}")


def _parse_preset(value: Any) -> str:
    preset = find_preset(value) if isinstance(value, str) else None
    if preset is None:
        raise ScheduleError(f"unknown preset {value!r} (expected one of {', '.join(PRESETS)})")
    return preset.name


def _parse_lead(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= DAY_MINUTES:
        raise ScheduleError(f"expected whole minutes from 0 to {DAY_MINUTES}, got {value!r}")
    return value


VALUE_PARSERS: dict[str, Callable[[Any], Any]] = {
    "preset": _parse_preset,
    "timezone": _parse_zone,
    "fallback_timezone": _parse_iana,
    "days": _parse_days,
    "windows": _parse_windows,
    "blackout_dates": _parse_dates,
    "start": _parse_bound,
    "end": _parse_bound,
    "daily_import_lead_minutes": _parse_lead,
}
