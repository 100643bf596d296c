"""Issue 15: the operator is told when a pinned zone meets a preset read on the callee's clock."""

from __future__ import annotations

from datetime import date

from campaign_engine.campaigns.preset_warning import preset_warning
from campaign_engine.campaigns.schedule import parse_schedule

NY_PINNED_TCPA = parse_schedule({"preset": "us_tcpa", "timezone": "America/New_York"})
GENERAL = (
    "preset us_tcpa applies in each callee's own time: with timezone America/New_York, the "
    "windows 08:00-21:00 (America/New_York time) are narrowed for callees in other zones to "
    "what 08:00-21:00 their own time allows"
)


def test_a_pinned_zone_with_a_callee_clock_preset_is_worth_a_warning() -> None:
    assert preset_warning(NY_PINNED_TCPA, on=date(2026, 1, 15)) == GENERAL


def test_the_warning_works_out_each_callee_zone_on_the_pinned_clock() -> None:
    zones = [
        ("America/Los_Angeles",),
        ("America/New_York",),  # the pinned clock itself: nothing to say
        ("Asia/Kolkata",),
        ("America/New_York", "America/Chicago"),
    ]
    assert preset_warning(NY_PINNED_TCPA, zones, on=date(2026, 1, 15)) == (
        GENERAL + " (on 2026-01-15: America/Los_Angeles callees: 08:00-21:00 their time = "
        "11:00-24:00 America/New_York, so called 11:00-21:00; Asia/Kolkata callees: "
        "08:00-21:00 their time = 00:00-10:30, 21:30-24:00 America/New_York, so called "
        "08:00-10:30; America/New_York + America/Chicago callees: 08:00-21:00 their time = "
        "09:00-21:00 America/New_York, so called 09:00-21:00)"
    )


def test_many_zone_groups_are_counted_past_the_first_few() -> None:
    zones = [(name,) for name in ("Asia/Tokyo", "Europe/Paris", "Asia/Dubai", "UTC", "Asia/Manila")]
    warning = preset_warning(NY_PINNED_TCPA, zones, on=date(2026, 1, 15))
    assert warning is not None
    assert warning.endswith("; and 1 more zone group)")


def test_no_warning_without_a_pin_or_a_callee_clock_preset() -> None:
    on = date(2026, 1, 15)
    assert preset_warning(None, on=on) is None
    assert preset_warning(parse_schedule({"preset": "us_tcpa"}), on=on) is None
    assert preset_warning(parse_schedule({"timezone": "America/New_York"}), on=on) is None
    india = parse_schedule({"preset": "india_promotional", "timezone": "UTC"})
    assert preset_warning(india, on=on) is None  # its hours are IST, checked in IST
