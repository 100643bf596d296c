"""A campaign's schedule: when its contacts may be called, read from a TOML file.

The file (every key optional)::

    preset = "us_tcpa"               # us_tcpa | india_promotional | rbi_collections
    timezone = "callee"              # "callee" (the number's own zones) or an IANA name
    fallback_timezone = "Asia/Kolkata"  # for numbers whose zone is unknown (e.g. +800)
    days = ["mon", "tue", "wed", "thu", "fri"]          # default: every day
    windows = ["10:00-13:00", "15:00-19:00"]            # default: the preset's hours, or all day
    blackout_dates = ["2026-12-25"]                     # callee-local dates
    start = 2026-12-01T09:00:00+05:30                   # or a date; default: when started
    end = 2026-12-31                                    # a date is inclusive; default: none
    daily_import_lead_minutes = 30   # daily runs: re-import this long before the first window

With ``timezone = "callee"`` the windows, days and dates are read on the callee's clock; a
number spanning several zones is called only when it is inside the window in all of them.
A pinned zone only narrows when the campaign calls: a preset read on the callee's clock
(``us_tcpa``, ``rbi_collections``) still applies in each of the callee's own zones, so a
moment must be allowed by both the campaign's windows (pinned zone) and the preset's hours
(every zone of the number; the fallback, else the pinned zone, when none is known).
A date-only ``start``/``end`` is a callee-local date too; a date-time needs its UTC offset.
A campaign with no schedule may call at any time.

Parsing is a plain function; every problem names the key (:class:`ScheduleError`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from campaign_engine.campaigns.presets import Preset, clip, find_preset, format_minute
from campaign_engine.campaigns.schedule_values import (
    CALLEE,
    VALUE_PARSERS,
    WEEKDAYS,
    ScheduleError,
)
from campaign_engine.campaigns.windows import ALL_WEEKDAYS, DAY_MINUTES, LocalRule

# The earliest and latest clocks on Earth: a date-only bound held by every callee.
_EARLIEST_ZONE = timezone(timedelta(hours=14))
_LATEST_ZONE = timezone(timedelta(hours=-12))


@dataclass(frozen=True)
class Schedule:
    timezone: str = CALLEE
    fallback_timezone: str | None = None
    weekdays: frozenset[int] = ALL_WEEKDAYS
    # Minutes after midnight, already clipped to the preset.
    windows: tuple[tuple[int, int], ...] = ((0, DAY_MINUTES),)
    blackout_dates: frozenset[date] = frozenset()
    start: datetime | date | None = None
    end: datetime | date | None = None
    preset: str | None = None
    daily_import_lead_minutes: int = 30
    # What parsing changed and the operator should know (e.g. windows clipped).
    notes: tuple[str, ...] = field(default=(), compare=False)

    @property
    def pinned(self) -> bool:
        return self.timezone != CALLEE

    def zones_for(self, callee_zones: tuple[str, ...] | list[str]) -> tuple[str, ...]:
        """The zones whose clocks decide for this callee; empty when none is known."""
        if self.pinned:
            return (self.timezone,)
        if callee_zones:
            return tuple(callee_zones)
        return (self.fallback_timezone,) if self.fallback_timezone else ()

    @property
    def home_zone(self) -> str:
        """The zone the campaign's own day is counted in (daily runs): the pinned zone, the
        preset's, the fallback, else UTC."""
        if self.pinned:
            return self.timezone
        preset = find_preset(self.preset) if self.preset else None
        if preset is not None and preset.timezone:
            return preset.timezone
        return self.fallback_timezone or "UTC"

    @property
    def callee_preset(self) -> Preset | None:
        """The preset when a pinned zone must not replace its callee's clock (else None)."""
        preset = find_preset(self.preset) if self.preset else None
        return preset if preset is not None and self.pinned and not preset.timezone else None

    @property
    def needs_callee_zones(self) -> bool:
        """Whether the callee's own zones decide anything (else every callee is alike)."""
        return not self.pinned or self.callee_preset is not None

    def preset_zones(
        self, zones: tuple[str, ...], callee_zones: tuple[str, ...] | None = None
    ) -> tuple[str, ...]:
        """Where the preset's hours are read beyond ``zones`` (the windows' zones, already
        clipped to it): its own zone when it has one; for a pinned campaign, each of the
        callee's zones (``callee_zones``; none known: the fallback, else the pinned zone)."""
        preset = find_preset(self.preset) if self.preset else None
        if preset is None:
            return ()
        if preset.timezone:
            return () if preset.timezone in zones else (preset.timezone,)
        if not self.pinned or callee_zones is None:
            return ()
        if callee_zones:
            return tuple(dict.fromkeys(callee_zones))
        return (self.fallback_timezone or self.timezone,)

    def rules_for(
        self,
        zones: tuple[str, ...],
        blackouts: frozenset[date] = frozenset(),
        callee_zones: tuple[str, ...] | None = None,
    ) -> list[LocalRule]:
        """One rule per zone (callee or pinned), then one for the preset's hours in each of
        :meth:`preset_zones` (its own zone; a pinned campaign's callee zones)."""
        days = self.blackout_dates | blackouts
        first, last = _date_only(self.start), _date_only(self.end)
        rules = [LocalRule(name, self.windows, self.weekdays, days, first, last) for name in zones]
        preset = find_preset(self.preset) if self.preset else None
        if preset is not None:
            hours = ((preset.start_minute, preset.end_minute),)
            rules.extend(LocalRule(name, hours) for name in self.preset_zones(zones, callee_zones))
        return rules

    @property
    def not_before(self) -> datetime | None:
        """No callee is called before this instant (a date-only start is also in the rules,
        per callee zone)."""
        return self.starts_at()

    @property
    def not_after(self) -> datetime | None:
        return self.ends_at()

    def starts_at(self) -> datetime | None:
        """When the campaign itself begins: a date begins at the first callee's midnight."""
        if self.start is None or isinstance(self.start, datetime):
            return self.start
        return datetime.combine(self.start, datetime.min.time(), _EARLIEST_ZONE).astimezone(UTC)

    def ends_at(self) -> datetime | None:
        """When the campaign itself ends: a date ends at the last callee's midnight after it."""
        if self.end is None or isinstance(self.end, datetime):
            return self.end
        following = self.end + timedelta(days=1)
        return datetime.combine(following, datetime.min.time(), _LATEST_ZONE).astimezone(UTC)

    def to_json(self) -> dict[str, Any]:
        """The form stored in ``campaigns.schedule`` (and printed by ``campaign show``)."""
        return {
            "timezone": self.timezone,
            "fallback_timezone": self.fallback_timezone,
            "days": [WEEKDAYS[day] for day in sorted(self.weekdays)],
            "windows": [window_text(window) for window in self.windows],
            "blackout_dates": sorted(day.isoformat() for day in self.blackout_dates),
            "start": _bound_text(self.start),
            "end": _bound_text(self.end),
            "preset": self.preset,
            "daily_import_lead_minutes": self.daily_import_lead_minutes,
        }


def window_text(window: tuple[int, int]) -> str:
    """(1320, 1560) -> ``"22:00-02:00"``; (600, 1440) -> ``"10:00-24:00"``."""
    start, end = window
    return f"{format_minute(start)}-{format_minute(end % DAY_MINUTES or end)}"


def _date_only(value: datetime | date | None) -> date | None:
    return None if value is None or isinstance(value, datetime) else value


def _bound_text(value: datetime | date | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value.isoformat()


def from_json(data: dict[str, Any] | None) -> Schedule | None:
    """The stored schedule (null: none, the campaign may call at any time)."""
    if data is None:
        return None
    return parse_schedule(data, clip_to_preset=False)


def parse_schedule(data: dict[str, Any], *, clip_to_preset: bool = True) -> Schedule:
    """Validate a schedule file's contents; raises :class:`ScheduleError` on the first bad key."""
    unknown = sorted(set(data) - set(VALUE_PARSERS))
    if unknown:
        expected = ", ".join(VALUE_PARSERS)
        raise ScheduleError(f"{unknown[0]}: unknown key (expected one of {expected})")
    values: dict[str, Any] = {}
    for key, parse in VALUE_PARSERS.items():
        if key in data and data[key] is not None:
            try:
                values[key] = parse(data[key])
            except ScheduleError as exc:
                raise ScheduleError(f"{key}: {exc}") from None
    if "days" in values:
        values["weekdays"] = values.pop("days")
    schedule = Schedule(**values)
    return _check_together(schedule, "windows" in data, clip_to_preset)


def _check_together(schedule: Schedule, windows_given: bool, clip_to_preset: bool) -> Schedule:
    preset = find_preset(schedule.preset) if schedule.preset else None
    notes: list[str] = []
    if preset is not None and clip_to_preset:
        if not windows_given:
            schedule = replace(schedule, windows=((preset.start_minute, preset.end_minute),))
        else:
            clipped = clip(schedule.windows, preset)
            if not clipped:
                raise ScheduleError(
                    f"windows: every window lies outside the {preset.name} hours ({preset.hours})"
                )
            if clipped != schedule.windows:
                notes.append(f"windows clipped to the {preset.name} hours ({preset.hours})")
            schedule = replace(schedule, windows=clipped)
    first, last = _date_only(schedule.start), _date_only(schedule.end)
    start, end = schedule.starts_at(), schedule.ends_at()
    if first is not None and last is not None:
        if last < first:
            raise ScheduleError("end: must be after start")
    elif start is not None and end is not None and end <= start:
        raise ScheduleError("end: must be after start")
    return replace(schedule, notes=tuple(notes))
