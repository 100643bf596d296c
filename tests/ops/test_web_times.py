"""Times as the console shows them: short, in the operator's zone or the callee's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaign_engine.ops.web_times import callee_zone, next_call_text, readable

MONDAY_0930 = datetime(2026, 12, 7, 9, 30, 12, 345678, tzinfo=UTC)


def test_a_time_reads_as_day_hour_minute_and_zone_without_microseconds() -> None:
    assert readable(MONDAY_0930, "UTC") == "Mon 09:30 UTC"
    assert readable(MONDAY_0930, "Asia/Kolkata") == "Mon 15:00 IST"
    assert readable(MONDAY_0930.replace(tzinfo=None), "UTC") == "Mon 09:30 UTC"
    assert readable(None, "UTC") == "-"


def test_a_time_more_than_a_week_away_carries_its_date() -> None:
    later = MONDAY_0930 + timedelta(days=14)
    assert readable(later, "UTC", now=MONDAY_0930) == "Mon 21 Dec 09:30 UTC"
    assert readable(later, "UTC", now=later) == "Mon 09:30 UTC"


def test_the_callees_zone_is_known_only_for_a_number_of_one_zone() -> None:
    assert callee_zone(["Asia/Kolkata"]) == "Asia/Kolkata"
    assert callee_zone(["America/New_York", "America/Chicago"]) is None
    assert callee_zone([]) is None


def test_a_held_contact_says_when_its_next_call_is_in_the_callees_time() -> None:
    now = MONDAY_0930 - timedelta(hours=8)  # 01:30 UTC, 07:00 in India
    held = next_call_text("pending", MONDAY_0930 - timedelta(hours=6), ["Asia/Kolkata"], now)
    retry = next_call_text("retrying", MONDAY_0930, ["Asia/Kolkata"], now)
    assert held == "waiting for the window; next call Mon 09:00 IST"
    assert retry == "waiting to retry; next call Mon 15:00 IST"


def test_a_due_or_finished_contact_has_no_waiting_text() -> None:
    due = next_call_text("pending", MONDAY_0930, ["Asia/Kolkata"], MONDAY_0930)
    assert due == "due now; in the callee's zone it is Mon 15:00 IST"
    assert next_call_text("completed", MONDAY_0930, ["Asia/Kolkata"], MONDAY_0930) is None
    assert next_call_text("pending", None, [], MONDAY_0930) is None
