"""Each schedule key's parser: what it accepts, what it returns, and its error messages."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from campaign_engine.campaigns.schedule_values import (
    CALLEE,
    VALUE_PARSERS,
    WEEKDAYS,
    ScheduleError,
    parse_window,
)

parse_zone = VALUE_PARSERS["timezone"]
parse_iana = VALUE_PARSERS["fallback_timezone"]
parse_days = VALUE_PARSERS["days"]
parse_windows = VALUE_PARSERS["windows"]
parse_dates = VALUE_PARSERS["blackout_dates"]
parse_bound = VALUE_PARSERS["start"]
parse_preset = VALUE_PARSERS["preset"]
parse_lead = VALUE_PARSERS["daily_import_lead_minutes"]


def test_every_schedule_file_key_has_a_parser() -> None:
    assert set(VALUE_PARSERS) == {
        "preset",
        "timezone",
        "fallback_timezone",
        "days",
        "windows",
        "blackout_dates",
        "start",
        "end",
        "daily_import_lead_minutes",
    }
    assert VALUE_PARSERS["start"] is VALUE_PARSERS["end"]


def test_schedule_error_is_a_value_error() -> None:
    assert issubclass(ScheduleError, ValueError)


# --- timezone / fallback_timezone ---------------------------------------------------------


@pytest.mark.parametrize("value", ["callee", "CALLEE", "  Callee "])
def test_timezone_callee_is_recognised_in_any_case(value: str) -> None:
    assert parse_zone(value) == CALLEE


def test_timezone_accepts_an_iana_name_and_strips_spaces() -> None:
    assert parse_zone("  America/New_York ") == "America/New_York"


@pytest.mark.parametrize("value", ["", "   ", None, 5, ["UTC"]])
def test_timezone_that_is_not_a_non_empty_string_is_refused(value: Any) -> None:
    with pytest.raises(ScheduleError, match='expected "callee" or an IANA time zone name'):
        parse_zone(value)


@pytest.mark.parametrize("value", ["Mars/Olympus_Mons", "EST5EDT/x", "../etc/passwd"])
def test_an_unknown_time_zone_is_named_in_the_error(value: str) -> None:
    with pytest.raises(ScheduleError, match="unknown time zone"):
        parse_zone(value)


def test_fallback_timezone_does_not_accept_callee() -> None:
    with pytest.raises(ScheduleError, match="unknown time zone 'callee'"):
        parse_iana("callee")


def test_fallback_timezone_refuses_a_non_string() -> None:
    with pytest.raises(ScheduleError, match="expected an IANA time zone name, got 3"):
        parse_iana(3)


def test_fallback_timezone_returns_the_stripped_name() -> None:
    assert parse_iana(" Asia/Kolkata ") == "Asia/Kolkata"


# --- days -------------------------------------------------------------------------------


def test_days_become_weekday_indexes_with_monday_zero() -> None:
    assert parse_days(["mon", "wed", "sun"]) == frozenset({0, 2, 6})


def test_days_accept_full_names_any_case_and_spaces() -> None:
    assert parse_days([" Monday", "FRIDAY", "Sat"]) == frozenset({0, 4, 5})


def test_all_seven_short_names_are_known_in_order() -> None:
    assert parse_days(list(WEEKDAYS)) == frozenset(range(7))


@pytest.mark.parametrize("value", [[], "mon", None, {"mon": 1}])
def test_days_must_be_a_non_empty_list(value: Any) -> None:
    with pytest.raises(ScheduleError, match="non-empty list"):
        parse_days(value)


@pytest.mark.parametrize("item", ["funday", "mo", 1, None])
def test_an_unknown_day_is_named_with_the_accepted_names(item: Any) -> None:
    with pytest.raises(ScheduleError, match=r"unknown day .* \(use mon, tue, wed"):
        parse_days(["mon", item])


def test_a_day_listed_twice_is_refused_even_under_another_spelling() -> None:
    with pytest.raises(ScheduleError, match="'monday' is listed twice"):
        parse_days(["mon", "monday"])


# --- windows ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("10:00-13:00", (600, 780)),
        (" 9:05 - 17:30 ", (545, 1050)),
        ("00:00-24:00", (0, 1440)),
        ("22:00-02:00", (1320, 1560)),
        ("23:59-00:00", (1439, 1440)),
    ],
)
def test_parse_window_reads_minutes_and_carries_an_end_before_start_to_the_next_day(
    text: str, minutes: tuple[int, int]
) -> None:
    assert parse_window(text) == minutes


@pytest.mark.parametrize("text", ["10-13", "10:00", "10:00\u201313:00", "1000-1300", "", 600, None])
def test_parse_window_refuses_a_shape_other_than_hh_mm_hh_mm(text: Any) -> None:
    with pytest.raises(ScheduleError, match='expected "HH:MM-HH:MM"'):
        parse_window(text)


@pytest.mark.parametrize("text", ["24:00-25:00", "10:60-11:00", "10:00-24:30", "10:00-25:00"])
def test_parse_window_refuses_a_time_that_is_not_a_time_of_day(text: str) -> None:
    with pytest.raises(ScheduleError, match="is not a time of day"):
        parse_window(text)


def test_parse_window_refuses_an_empty_window() -> None:
    with pytest.raises(ScheduleError, match="'10:00-10:00' is empty"):
        parse_window("10:00-10:00")


def test_windows_are_returned_sorted() -> None:
    assert parse_windows(["15:00-19:00", "10:00-13:00"]) == ((600, 780), (900, 1140))


def test_touching_windows_are_allowed() -> None:
    assert parse_windows(["10:00-12:00", "12:00-14:00"]) == ((600, 720), (720, 840))


def test_overlapping_windows_are_refused() -> None:
    with pytest.raises(ScheduleError, match="windows overlap; list each stretch"):
        parse_windows(["10:00-13:00", "12:00-14:00"])


def test_a_window_past_midnight_overlapping_the_first_morning_window_is_refused() -> None:
    with pytest.raises(ScheduleError, match="windows overlap across midnight"):
        parse_windows(["08:00-10:00", "22:00-09:00"])


def test_a_window_past_midnight_ending_where_the_morning_one_starts_is_allowed() -> None:
    assert parse_windows(["08:00-10:00", "22:00-08:00"]) == ((480, 600), (1320, 1920))


@pytest.mark.parametrize("value", [[], "10:00-13:00", None])
def test_windows_must_be_a_non_empty_list(value: Any) -> None:
    with pytest.raises(ScheduleError, match="non-empty list"):
        parse_windows(value)


# --- blackout_dates ---------------------------------------------------------------------


def test_blackout_dates_accept_iso_strings_and_dates_and_drop_repeats() -> None:
    assert parse_dates(["2026-12-25", date(2026, 12, 25), " 2027-01-01 "]) == frozenset(
        {date(2026, 12, 25), date(2027, 1, 1)}
    )


def test_an_empty_blackout_list_is_allowed() -> None:
    assert parse_dates([]) == frozenset()


def test_blackout_dates_must_be_a_list() -> None:
    with pytest.raises(ScheduleError, match="expected a list of dates"):
        parse_dates("2026-12-25")


@pytest.mark.parametrize(
    "item", ["25/12/2026", "2026-13-01", 20261225, datetime(2026, 12, 25, tzinfo=UTC)]
)
def test_a_blackout_entry_that_is_not_a_plain_date_is_refused(item: Any) -> None:
    with pytest.raises(ScheduleError, match=r"expected a date \(YYYY-MM-DD\)"):
        parse_dates([item])


# --- start / end ------------------------------------------------------------------------


def test_a_bound_given_as_a_date_string_stays_a_date() -> None:
    assert parse_bound("2026-12-01") == date(2026, 12, 1)


def test_a_bound_given_as_a_date_object_stays_a_date() -> None:
    assert parse_bound(date(2026, 12, 1)) == date(2026, 12, 1)


def test_a_bound_with_an_offset_is_converted_to_utc() -> None:
    parsed = parse_bound("2026-12-01T09:00:00+05:30")
    assert parsed == datetime(2026, 12, 1, 3, 30, tzinfo=UTC)
    assert isinstance(parsed, datetime) and parsed.utcoffset() == timedelta(0)


def test_a_bound_ending_in_z_is_utc() -> None:
    assert parse_bound("2026-12-01T09:00:00Z") == datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_an_aware_datetime_bound_as_toml_gives_it_is_converted_to_utc() -> None:
    toml_value = datetime(2026, 12, 1, 9, tzinfo=timezone(timedelta(hours=-5)))
    assert parse_bound(toml_value) == datetime(2026, 12, 1, 14, tzinfo=UTC)


@pytest.mark.parametrize("value", ["2026-12-01T09:00:00", datetime(2026, 12, 1, 9)])
def test_a_bound_without_an_offset_is_refused_with_the_fix(value: Any) -> None:
    with pytest.raises(ScheduleError, match="has no UTC offset; add one"):
        parse_bound(value)


@pytest.mark.parametrize("value", ["tomorrow", "2026/12/01", 1700000000, None])
def test_a_bound_that_is_not_iso_8601_is_refused(value: Any) -> None:
    with pytest.raises(ScheduleError, match="expected an ISO-8601 date or date-time"):
        parse_bound(value)


# --- preset -----------------------------------------------------------------------------


def test_preset_returns_the_canonical_name() -> None:
    assert parse_preset("US-TCPA") == "us_tcpa"


@pytest.mark.parametrize("value", ["gdpr", "", 1, None])
def test_an_unknown_preset_lists_the_known_ones(value: Any) -> None:
    with pytest.raises(
        ScheduleError,
        match=r"unknown preset .* \(expected one of us_tcpa, india_promotional, rbi_collections\)",
    ):
        parse_preset(value)


# --- daily_import_lead_minutes ----------------------------------------------------------


@pytest.mark.parametrize("value", [0, 30, 1440])
def test_lead_minutes_accepts_whole_minutes_within_a_day(value: int) -> None:
    assert parse_lead(value) == value


@pytest.mark.parametrize("value", [-1, 1441, 30.0, "30", True, False, None])
def test_lead_minutes_refuses_anything_but_an_int_from_0_to_1440(value: Any) -> None:
    with pytest.raises(ScheduleError, match="expected whole minutes from 0 to 1440"):
        parse_lead(value)
