"""When calling is allowed, as UTC intervals: the time maths of calling windows.

A :class:`LocalRule` says what one zone's clock allows (hours, weekdays, blackout dates,
first and last day). Its allowed moments become UTC intervals; a contact whose number spans
several zones may be called only inside the intersection of every zone's intervals.

Daylight saving: each local day is converted on its own, so a 10:00 window is 10:00 on the
wall clock before and after a change. A window edge that falls in a gap (spring forward) or
an overlap (fall back) is taken on the conservative side: never a moment outside the window.

A window that runs past midnight (``22:00-02:00``) belongs to the day it starts on (its
weekday), but no moment on a blackout date or outside the first/last day is ever allowed.

Everything here is a plain function of its arguments (no clock, no I/O).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

DAY_MINUTES = 24 * 60
ALL_WEEKDAYS = frozenset(range(7))
# How far ahead to look for an allowed moment before calling a contact uncallable.
HORIZON_DAYS = 400
_CHUNK_DAYS = 8

Interval = tuple[datetime, datetime]


@dataclass(frozen=True)
class LocalRule:
    """What one zone's wall clock allows."""

    zone: str
    # Minutes after local midnight, [start, end); ``end`` may pass 1440 (next day).
    windows: tuple[tuple[int, int], ...] = ((0, DAY_MINUTES),)
    weekdays: frozenset[int] = ALL_WEEKDAYS  # 0 is Monday
    blackouts: frozenset[date] = frozenset()
    first_day: date | None = None
    last_day: date | None = None

    def allows_day(self, day: date) -> bool:
        """No moment of ``day`` may be used: blackout, or outside the first/last day."""
        if day in self.blackouts:
            return False
        if self.first_day is not None and day < self.first_day:
            return False
        return self.last_day is None or day <= self.last_day


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def to_utc(zone_name: str, day: date, minute: int, *, edge: str) -> datetime:
    """The UTC instant of ``minute`` after midnight of local ``day``.

    ``edge`` is ``"start"`` or ``"end"``: in a DST gap or overlap the later reading is used
    for a start and the earlier for an end, so the window only ever shrinks.
    """
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    tz = zone(zone_name)
    readings = [naive.replace(tzinfo=tz, fold=fold).astimezone(UTC) for fold in (0, 1)]
    return max(readings) if edge == "start" else min(readings)


def local_date(zone_name: str, at: datetime) -> date:
    return at.astimezone(zone(zone_name)).date()


def _pieces(rule: LocalRule, day: date) -> Iterable[tuple[date, int, int]]:
    """The day's windows cut at local midnights: (date, start minute, end minute)."""
    if day.weekday() not in rule.weekdays:
        return
    for start, end in rule.windows:
        offset = 0
        while offset < end:
            low, high = max(start, offset), min(end, offset + DAY_MINUTES)
            piece_day = day + timedelta(days=offset // DAY_MINUTES)
            if low < high and rule.allows_day(piece_day):
                yield piece_day, low - offset, high - offset
            offset += DAY_MINUTES


def rule_intervals(rule: LocalRule, start: datetime, end: datetime) -> list[Interval]:
    """The rule's allowed moments within [start, end), as sorted, merged UTC intervals."""
    first = local_date(rule.zone, start) - timedelta(days=1)
    last = local_date(rule.zone, end)
    found: list[Interval] = []
    day = first
    while day <= last:
        for piece_day, low, high in _pieces(rule, day):
            opens = to_utc(rule.zone, piece_day, low, edge="start")
            closes = to_utc(rule.zone, piece_day, high, edge="end")
            opens, closes = max(opens, start), min(closes, end)
            if opens < closes:
                found.append((opens, closes))
        day += timedelta(days=1)
    return merge(found)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for opens, closes in sorted(intervals):
        if merged and opens <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], closes))
        else:
            merged.append((opens, closes))
    return merged


def intersect(left: Sequence[Interval], right: Sequence[Interval]) -> list[Interval]:
    """Moments inside both (both sorted and merged)."""
    found: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        opens = max(left[i][0], right[j][0])
        closes = min(left[i][1], right[j][1])
        if opens < closes:
            found.append((opens, closes))
        if left[i][1] < right[j][1]:
            i += 1
        else:
            j += 1
    return found


def allowed_intervals(
    rules: Sequence[LocalRule],
    start: datetime,
    end: datetime,
) -> list[Interval]:
    """Moments within [start, end) that every rule allows (no rules: all of them)."""
    if start >= end:
        return []
    result: list[Interval] = [(start, end)]
    for rule in rules:
        result = intersect(result, rule_intervals(rule, start, end))
        if not result:
            break
    return result


def next_allowed(
    rules: Sequence[LocalRule],
    after: datetime,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    horizon_days: int = HORIZON_DAYS,
) -> datetime | None:
    """The first moment at or after ``after`` that every rule allows, inside the absolute
    bounds; None when there is none within the horizon."""
    cursor = max(after, not_before) if not_before is not None else after
    limit = cursor + timedelta(days=horizon_days)
    if not_after is not None:
        limit = min(limit, not_after)
    while cursor < limit:
        chunk_end = min(cursor + timedelta(days=_CHUNK_DAYS), limit)
        found = allowed_intervals(rules, cursor, chunk_end)
        if found:
            return found[0][0]
        cursor = chunk_end
    return None


def is_allowed(
    rules: Sequence[LocalRule],
    at: datetime,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> bool:
    """True when ``at`` itself is an allowed moment."""
    return next_allowed(rules, at, not_before=not_before, not_after=not_after, horizon_days=1) == at
