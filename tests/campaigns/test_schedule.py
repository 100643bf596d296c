"""Schedule files: every key, presets clipping the windows, and errors that name the key."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from campaign_engine.campaigns.presets import PRESETS, find_preset
from campaign_engine.campaigns.schedule import Schedule, from_json, parse_schedule
from campaign_engine.campaigns.schedule_values import ScheduleError
from campaign_engine.campaigns.windows import next_allowed

FULL: dict[str, Any] = {
    "preset": "us_tcpa",
    "timezone": "callee",
    "fallback_timezone": "America/New_York",
    "days": ["mon", "tue", "wed", "thu", "fri"],
    "windows": ["10:00-13:00", "15:00-19:00"],
    "blackout_dates": ["2026-12-25", date(2027, 1, 1)],
    "start": datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    "end": "2026-12-31",
    "daily_import_lead_minutes": 45,
}


def test_a_full_schedule_is_read_and_survives_storage_unchanged() -> None:
    schedule = parse_schedule(FULL)

    assert schedule.weekdays == frozenset(range(5))
    assert schedule.windows == ((600, 780), (900, 1140))
    assert schedule.blackout_dates == {date(2026, 12, 25), date(2027, 1, 1)}
    assert schedule.start == datetime(2026, 12, 1, 9, tzinfo=UTC)
    assert schedule.end == date(2026, 12, 31)
    assert schedule.notes == ()
    assert from_json(schedule.to_json()) == schedule
    assert schedule.to_json()["windows"] == ["10:00-13:00", "15:00-19:00"]


def test_an_empty_schedule_allows_every_day_all_day() -> None:
    schedule = parse_schedule({})
    assert schedule == Schedule()
    assert schedule.to_json()["windows"] == ["00:00-24:00"]
    assert from_json(None) is None


def test_windows_are_clipped_to_the_preset_and_the_operator_is_told() -> None:
    schedule = parse_schedule({"preset": "US-TCPA", "windows": ["07:00-10:00", "20:00-23:00"]})
    assert schedule.preset == "us_tcpa"
    assert schedule.windows == ((480, 600), (1200, 1260))
    assert schedule.notes == ("windows clipped to the us_tcpa hours (08:00-21:00)",)


def test_a_preset_without_windows_gives_its_own_hours() -> None:
    assert parse_schedule({"preset": "rbi_collections"}).windows == ((480, 1140),)
    assert parse_schedule({"preset": "india_promotional"}).windows == ((540, 1260),)


def test_the_presets_are_the_legal_hours() -> None:
    assert {name: p.hours for name, p in PRESETS.items()} == {
        "us_tcpa": "08:00-21:00",
        "india_promotional": "09:00-21:00",
        "rbi_collections": "08:00-19:00",
    }
    assert find_preset("india_promotional").timezone == "Asia/Kolkata"  # type: ignore[union-attr]


def test_a_fixed_zone_preset_is_also_checked_in_its_own_zone() -> None:
    """India's promotional hours are IST even when the campaign pins another zone."""
    schedule = parse_schedule({"preset": "india_promotional", "timezone": "Asia/Dubai"})
    rules = schedule.rules_for(schedule.zones_for(()))
    assert [rule.zone for rule in rules] == ["Asia/Dubai", "Asia/Kolkata"]
    # 08:00 Dubai is 09:30 IST: both allow it. 20:45 Dubai is 22:15 IST: IST does not.
    assert next_allowed(rules, datetime(2026, 6, 1, 4, tzinfo=UTC)) == datetime(
        2026, 6, 1, 5, tzinfo=UTC
    )
    assert next_allowed(rules, datetime(2026, 6, 1, 16, 30, tzinfo=UTC)) == datetime(
        2026, 6, 2, 5, tzinfo=UTC
    )


def test_the_callees_zones_pinned_zone_and_fallback() -> None:
    callee = parse_schedule({"fallback_timezone": "Asia/Kolkata"})
    assert callee.zones_for(("America/New_York",)) == ("America/New_York",)
    assert callee.zones_for(()) == ("Asia/Kolkata",)
    assert parse_schedule({}).zones_for(()) == ()
    pinned = parse_schedule({"timezone": "Europe/London"})
    assert pinned.zones_for(("America/New_York", "America/Chicago")) == ("Europe/London",)


def test_a_date_only_start_and_end_cover_whole_days_for_every_callee() -> None:
    schedule = parse_schedule({"start": "2026-12-01", "end": "2026-12-31"})
    # The campaign runs from the first midnight on Earth to the last one.
    assert schedule.starts_at() == datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert schedule.ends_at() == datetime(2027, 1, 1, 12, tzinfo=UTC)
    rule = schedule.rules_for(("Asia/Kolkata",))[0]
    assert (rule.first_day, rule.last_day) == (date(2026, 12, 1), date(2026, 12, 31))


def test_a_window_past_midnight_is_stored_as_written() -> None:
    schedule = parse_schedule({"windows": ["22:00-02:00", "09:00-12:00"]})
    assert schedule.windows == ((540, 720), (1320, 1560))
    assert schedule.to_json()["windows"] == ["09:00-12:00", "22:00-02:00"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"window": ["10:00-12:00"]}, "window: unknown key (expected one of preset, "),
        ({"windows": ["10-12"]}, "windows: expected \"HH:MM-HH:MM\", got '10-12'"),
        ({"windows": ["10:00-10:00"]}, "windows: '10:00-10:00' is empty"),
        ({"windows": ["25:00-26:00"]}, "windows: '25:00-26:00' is not a time of day"),
        ({"windows": ["10:00-13:00", "12:00-14:00"]}, "windows: windows overlap"),
        ({"windows": ["20:00-09:00", "08:00-10:00"]}, "windows: windows overlap across midnight"),
        ({"windows": []}, "windows: expected a non-empty list"),
        ({"days": ["mon", "funday"]}, "days: unknown day 'funday'"),
        ({"days": ["mon", "Monday"]}, "days: 'Monday' is listed twice"),
        ({"timezone": "Mars/Olympus"}, "timezone: unknown time zone 'Mars/Olympus'"),
        ({"fallback_timezone": "callee"}, "fallback_timezone: unknown time zone 'callee'"),
        ({"preset": "gdpr"}, "preset: unknown preset 'gdpr' (expected one of us_tcpa, "),
        ({"blackout_dates": ["25/12/2026"]}, "blackout_dates: expected a date (YYYY-MM-DD)"),
        ({"start": datetime(2026, 12, 1, 9)}, "start: 2026-12-01T09:00:00 has no UTC offset"),
        ({"start": "soon"}, "start: expected an ISO-8601 date or date-time, got 'soon'"),
        ({"start": "2026-12-02", "end": "2026-12-01"}, "end: must be after start"),
        ({"daily_import_lead_minutes": -5}, "daily_import_lead_minutes: expected whole minutes"),
        (
            {"preset": "us_tcpa", "windows": ["21:00-23:00"]},
            "windows: every window lies outside the us_tcpa hours (08:00-21:00)",
        ),
    ],
)
def test_a_bad_schedule_names_the_key_and_the_problem(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ScheduleError) as raised:
        parse_schedule(data)
    assert str(raised.value).startswith(message)


def test_a_pinned_campaign_reads_a_callee_clock_preset_in_each_callee_zone() -> None:
    """Issue 15: the pinned zone's rule first, then the preset's hours on every callee clock
    (none known: the fallback, else the pinned zone); a fixed-zone preset keeps its zone."""
    pinned = parse_schedule({"preset": "us_tcpa", "timezone": "America/New_York"})
    callee = ("America/Chicago", "America/Los_Angeles")
    rules = pinned.rules_for(pinned.zones_for(callee), frozenset(), callee)
    assert [(rule.zone, rule.windows) for rule in rules] == [
        ("America/New_York", ((480, 1260),)),
        ("America/Chicago", ((480, 1260),)),
        ("America/Los_Angeles", ((480, 1260),)),
    ]
    assert rules[1].weekdays == frozenset(range(7))  # the law's hours, every day
    assert pinned.needs_callee_zones
    assert pinned.preset_zones(("America/New_York",), ()) == ("America/New_York",)
    fallback = parse_schedule(
        {"preset": "us_tcpa", "timezone": "America/New_York", "fallback_timezone": "America/Denver"}
    )
    assert fallback.preset_zones(("America/New_York",), ()) == ("America/Denver",)
    # 05:30 in Los Angeles (08:30 in New York) is not allowed; 08:00 there is.
    assert next_allowed(rules, datetime(2026, 6, 3, 12, 30, tzinfo=UTC)) == datetime(
        2026, 6, 3, 15, tzinfo=UTC
    )
    # No preset, a fixed-zone preset, or the callee's own clock: nothing more to read.
    assert not parse_schedule({"timezone": "America/New_York"}).needs_callee_zones
    india = parse_schedule({"preset": "india_promotional", "timezone": "Asia/Dubai"})
    assert india.preset_zones(("Asia/Dubai",), callee) == ("Asia/Kolkata",)
    assert parse_schedule({"preset": "us_tcpa"}).preset_zones(callee, callee) == ()
