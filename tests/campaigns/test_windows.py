"""Calling windows as UTC intervals: midnight, daylight saving, several zones, blackouts."""

from __future__ import annotations

from datetime import date, timedelta

from campaign_engine.campaigns.windows import (
    LocalRule,
    allowed_intervals,
    is_allowed,
    next_allowed,
    to_utc,
)
from tests.campaigns.support import utc

NY, CHICAGO, KOLKATA = "America/New_York", "America/Chicago", "Asia/Kolkata"
WEEKDAYS = frozenset(range(5))


def rule(zone: str, *windows: tuple[int, int], **fields: object) -> LocalRule:
    return LocalRule(zone, tuple(windows) or ((600, 780),), **fields)  # type: ignore[arg-type]


def test_a_window_is_read_on_the_zones_wall_clock() -> None:
    # 10:00-13:00 IST is 04:30-07:30 UTC.
    found = allowed_intervals([rule(KOLKATA)], utc(2026, 6, 1), utc(2026, 6, 2))
    assert found == [(utc(2026, 6, 1, 4, 30), utc(2026, 6, 1, 7, 30))]


def test_a_moment_inside_the_window_is_allowed_at_once() -> None:
    assert next_allowed([rule(KOLKATA)], utc(2026, 6, 1, 5)) == utc(2026, 6, 1, 5)
    assert is_allowed([rule(KOLKATA)], utc(2026, 6, 1, 5))
    assert not is_allowed([rule(KOLKATA)], utc(2026, 6, 1, 7, 30))  # the end is excluded


def test_after_the_window_closes_the_next_allowed_moment_is_the_next_days_opening() -> None:
    # 23:30 IST: the retry lands at 10:00 IST the next morning, not at 23:30.
    late = utc(2026, 6, 1, 18)
    assert next_allowed([rule(KOLKATA)], late) == utc(2026, 6, 2, 4, 30)


def test_a_window_running_past_midnight_allows_both_sides_of_midnight() -> None:
    night = rule(KOLKATA, (22 * 60, 26 * 60))  # 22:00-02:00
    assert is_allowed([night], utc(2026, 6, 1, 18))  # 23:30 IST
    assert is_allowed([night], utc(2026, 6, 1, 19, 30))  # 01:00 IST, the next day
    # 02:30 IST: closed until 22:00 IST that evening.
    assert next_allowed([night], utc(2026, 6, 1, 21)) == utc(2026, 6, 2, 16, 30)


def test_a_window_past_midnight_belongs_to_the_day_it_starts_on() -> None:
    friday_night = rule(KOLKATA, (22 * 60, 26 * 60), weekdays=frozenset({4}))
    # Friday 2026-06-05 22:00 IST to Saturday 02:00 IST, then nothing until next Friday.
    assert is_allowed([friday_night], utc(2026, 6, 5, 20))  # Saturday 01:30 IST
    assert next_allowed([friday_night], utc(2026, 6, 5, 21)) == utc(2026, 6, 12, 16, 30)


def test_a_blackout_date_removes_the_part_of_a_night_window_that_falls_on_it() -> None:
    night = rule(KOLKATA, (22 * 60, 26 * 60), blackouts=frozenset({date(2026, 6, 2)}))
    # Monday 22:00 IST - midnight is allowed; midnight - 02:00 on the blackout Tuesday is not,
    # nor is Tuesday 22:00 - midnight; Wednesday from 00:00 is.
    assert is_allowed([night], utc(2026, 6, 1, 18))
    assert next_allowed([night], utc(2026, 6, 1, 18, 30)) == utc(2026, 6, 2, 18, 30)


def test_windows_keep_their_wall_clock_time_across_a_daylight_saving_change() -> None:
    # New York springs forward on Sunday 2026-03-08: 10:00 is 15:00 UTC before, 14:00 after.
    tenish = rule(NY)
    assert next_allowed([tenish], utc(2026, 3, 7, 0)) == utc(2026, 3, 7, 15)
    assert next_allowed([tenish], utc(2026, 3, 8, 0)) == utc(2026, 3, 8, 14)
    # ... and falls back on 2026-11-01: 14:00 UTC before, 15:00 after.
    assert next_allowed([tenish], utc(2026, 10, 31, 0)) == utc(2026, 10, 31, 14)
    assert next_allowed([tenish], utc(2026, 11, 1, 0)) == utc(2026, 11, 1, 15)


def test_a_window_edge_in_a_dst_gap_or_overlap_is_taken_on_the_conservative_side() -> None:
    # 02:30 does not exist on 2026-03-08 in New York: a window opening then opens at the
    # later reading (03:30 EDT), one closing then closes at the earlier (01:30 EST).
    assert to_utc(NY, date(2026, 3, 8), 150, edge="start") == utc(2026, 3, 8, 7, 30)
    assert to_utc(NY, date(2026, 3, 8), 150, edge="end") == utc(2026, 3, 8, 6, 30)
    # 01:30 happens twice on 2026-11-01: opening at the second, closing at the first.
    assert to_utc(NY, date(2026, 11, 1), 90, edge="start") == utc(2026, 11, 1, 6, 30)
    assert to_utc(NY, date(2026, 11, 1), 90, edge="end") == utc(2026, 11, 1, 5, 30)
    found = allowed_intervals([rule(NY, (60, 150))], utc(2026, 3, 8), utc(2026, 3, 9))
    assert found == [(utc(2026, 3, 8, 6), utc(2026, 3, 8, 6, 30))]


def test_a_number_in_several_zones_is_called_only_inside_the_window_in_all_of_them() -> None:
    # 10:00-13:00 in New York and in Chicago overlap from 11:00 to 13:00 New York time.
    both = [rule(NY), rule(CHICAGO)]
    found = allowed_intervals(both, utc(2026, 6, 1), utc(2026, 6, 2))
    assert found == [(utc(2026, 6, 1, 15), utc(2026, 6, 1, 17))]
    assert next_allowed(both, utc(2026, 6, 1, 14)) == utc(2026, 6, 1, 15)


def test_zones_whose_windows_never_overlap_leave_no_allowed_moment() -> None:
    far_apart = [rule(NY), rule(KOLKATA)]
    assert next_allowed(far_apart, utc(2026, 6, 1)) is None


def test_weekdays_skip_the_weekend() -> None:
    weekday = rule(NY, weekdays=WEEKDAYS)
    friday_evening = utc(2026, 6, 5, 22)
    assert next_allowed([weekday], friday_evening) == utc(2026, 6, 8, 14)  # Monday 10:00 EDT


def test_blackout_dates_and_first_and_last_days_bound_the_allowed_days() -> None:
    bounded = rule(
        NY,
        blackouts=frozenset({date(2026, 6, 2)}),
        first_day=date(2026, 6, 2),
        last_day=date(2026, 6, 3),
    )
    assert next_allowed([bounded], utc(2026, 6, 1)) == utc(2026, 6, 3, 14)
    assert next_allowed([bounded], utc(2026, 6, 3, 18)) is None


def test_absolute_bounds_clip_the_search() -> None:
    start = utc(2026, 6, 1, 15, 30)
    assert next_allowed([rule(NY)], utc(2026, 6, 1), not_before=start) == start
    assert next_allowed([rule(NY)], utc(2026, 6, 1, 18), not_after=utc(2026, 6, 2)) is None
    assert next_allowed([], utc(2026, 6, 1)) == utc(2026, 6, 1)


def test_the_search_gives_up_after_the_horizon() -> None:
    never = rule(NY, blackouts=frozenset(date(2026, 6, 1) + timedelta(days=d) for d in range(30)))
    assert next_allowed([never], utc(2026, 6, 1), horizon_days=20) is None
    assert next_allowed([never], utc(2026, 6, 1), horizon_days=40) == utc(2026, 7, 1, 14)
