"""Legal calling-hour presets: lookup by name, hour formatting, and clipping windows."""

from __future__ import annotations

import pytest

from campaign_engine.campaigns.presets import (
    DAY_MINUTES,
    PRESETS,
    Preset,
    clip,
    find_preset,
    format_minute,
)

TCPA = PRESETS["us_tcpa"]  # 08:00-21:00 callee local
INDIA = PRESETS["india_promotional"]  # 09:00-21:00 IST


def test_each_preset_is_keyed_by_its_own_name_with_the_documented_hours() -> None:
    assert {name: preset.hours for name, preset in PRESETS.items()} == {
        "us_tcpa": "08:00-21:00",
        "india_promotional": "09:00-21:00",
        "rbi_collections": "08:00-19:00",
    }
    assert all(name == preset.name for name, preset in PRESETS.items())


def test_only_the_india_preset_is_read_in_a_fixed_zone() -> None:
    assert INDIA.timezone == "Asia/Kolkata"
    assert TCPA.timezone is None
    assert PRESETS["rbi_collections"].timezone is None


@pytest.mark.parametrize(
    "name", ["us_tcpa", "US_TCPA", "us-tcpa", "  Us-Tcpa  ", "India-Promotional"]
)
def test_find_preset_ignores_case_dashes_and_surrounding_spaces(name: str) -> None:
    found = find_preset(name)
    assert found is not None
    assert found.name == name.strip().lower().replace("-", "_")


@pytest.mark.parametrize("name", ["", "tcpa", "us tcpa", "us__tcpa", "gdpr"])
def test_find_preset_returns_none_for_an_unknown_name(name: str) -> None:
    assert find_preset(name) is None


@pytest.mark.parametrize(
    ("minute", "text"),
    [(0, "00:00"), (570, "09:30"), (1439, "23:59"), (1440, "24:00"), (1560, "26:00")],
)
def test_format_minute_pads_hours_and_minutes_and_runs_past_midnight(
    minute: int, text: str
) -> None:
    assert format_minute(minute) == text


def test_clip_cuts_a_window_that_starts_before_the_preset_hours() -> None:
    assert clip(((7 * 60, 10 * 60),), TCPA) == ((8 * 60, 10 * 60),)


def test_clip_keeps_a_window_inside_the_preset_hours_unchanged() -> None:
    windows = ((9 * 60, 12 * 60), (14 * 60, 18 * 60))
    assert clip(windows, TCPA) == windows


def test_clip_drops_a_window_entirely_outside_the_preset_hours() -> None:
    assert clip(((5 * 60, 7 * 60), (10 * 60, 11 * 60)), TCPA) == ((600, 660),)
    assert clip(((21 * 60, 23 * 60),), TCPA) == ()


def test_clip_treats_the_preset_end_as_exclusive() -> None:
    # 20:00-21:30 keeps only up to 21:00; a window starting at 21:00 is wholly outside.
    assert clip(((20 * 60, 21 * 60 + 30),), TCPA) == ((1200, 1260),)
    assert clip(((21 * 60, 22 * 60),), TCPA) == ()


def test_clip_of_a_window_past_midnight_keeps_the_next_mornings_part_as_clock_time() -> None:
    # 20:00-10:00 (next day) under TCPA: 20:00-21:00 tonight and 08:00-10:00 tomorrow.
    window = (20 * 60, 10 * 60 + DAY_MINUTES)
    assert clip((window,), TCPA) == ((8 * 60, 10 * 60), (20 * 60, 21 * 60))


def test_clip_of_a_whole_day_window_gives_exactly_the_preset_hours() -> None:
    assert clip(((0, DAY_MINUTES),), INDIA) == ((9 * 60, 21 * 60),)


def test_clip_of_no_windows_is_empty() -> None:
    assert clip((), TCPA) == ()


def test_clip_returns_its_pieces_sorted_by_start() -> None:
    windows = ((15 * 60, 16 * 60), (9 * 60, 10 * 60))
    assert clip(windows, TCPA) == ((540, 600), (900, 960))


def test_a_custom_preset_reports_its_hours_from_its_minutes() -> None:
    night = Preset("night", "test", 22 * 60, 26 * 60)
    assert night.hours == "22:00-26:00"
    assert clip(((23 * 60, 25 * 60),), night) == ((1380, 1500),)
