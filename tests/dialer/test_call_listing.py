"""What ``GET /calls`` answers mean for our attempts: plain functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from campaign_engine.db.models import CallAttempt
from campaign_engine.dialer.call_listing import (
    CLOCK_SKEW,
    DETAIL_POLLS,
    PAGE,
    Listing,
    by_id,
    match_unknown,
    partial_listing,
    report_from_call,
)
from campaign_engine.outcomes.record import CallReport
from campaign_engine.vocobase.schemas import Call, CallDetail

NOON = datetime(2030, 6, 3, 12, tzinfo=UTC)
PHONE = "+919800000001"


def call(call_id: str, *, created_at: datetime | None = NOON, **fields: Any) -> Call:
    fields.setdefault("to_number", PHONE)
    fields.setdefault("status", "completed")
    return Call(call_id=call_id, created_at=created_at, **fields)


def attempt(claimed_at: datetime, to_number: str = PHONE) -> CallAttempt:
    return CallAttempt(claimed_at=claimed_at, to_number=to_number)


def test_a_listing_covers_attempts_claimed_after_its_oldest_call_give_or_take_the_skew() -> None:
    listing = Listing([], covers_since=NOON)
    assert listing.covers(NOON + CLOCK_SKEW)
    assert listing.covers(NOON + CLOCK_SKEW + timedelta(minutes=5))
    assert not listing.covers(NOON + CLOCK_SKEW - timedelta(seconds=1))


def test_a_listing_read_to_the_end_covers_every_attempt() -> None:
    assert Listing([], covers_since=None).covers(datetime(2000, 1, 1, tzinfo=UTC))


def test_a_listing_cut_short_is_complete_back_to_its_oldest_dated_call() -> None:
    calls = [
        call("c3", created_at=NOON),
        call("c2", created_at=None),
        call("c1", created_at=NOON - timedelta(hours=1)),
    ]
    listing = partial_listing(calls)
    assert listing == Listing(calls, NOON - timedelta(hours=1))


def test_a_listing_cut_short_proves_nothing_without_calls_or_dates() -> None:
    assert partial_listing([]) is None
    assert partial_listing([call("c1", created_at=None)]) is None


def test_an_unknown_start_matches_the_oldest_call_to_its_number_after_its_claim() -> None:
    claimed = NOON
    calls = [  # newest first, as the listing reads them
        call("newer", created_at=claimed + timedelta(minutes=2)),
        call("other number", created_at=claimed + timedelta(minutes=1), to_number="+91980000009"),
        call("oldest after", created_at=claimed + timedelta(seconds=5)),
        call("before the claim", created_at=claimed - CLOCK_SKEW - timedelta(seconds=1)),
    ]
    found = match_unknown(attempt(claimed), calls, taken=set())
    assert found is not None and found.call_id == "oldest after"


def test_an_unknown_start_skips_calls_already_taken_by_another_attempt() -> None:
    calls = [call("second", created_at=NOON + timedelta(minutes=1)), call("first")]
    found = match_unknown(attempt(NOON), calls, taken={"first"})
    assert found is not None and found.call_id == "second"
    assert match_unknown(attempt(NOON), calls, taken={"first", "second"}) is None


def test_an_unknown_start_allows_the_clock_skew_and_calls_without_a_date() -> None:
    just_inside = call("skewed", created_at=NOON - CLOCK_SKEW)
    assert match_unknown(attempt(NOON), [just_inside], taken=set()) == just_inside
    undated = call("undated", created_at=None)
    assert match_unknown(attempt(NOON), [undated], taken=set()) == undated


def test_an_unknown_start_matches_nothing_to_another_number() -> None:
    calls = [call("c1", to_number="+14155550100")]
    assert match_unknown(attempt(NOON), calls, taken=set()) is None


def test_a_listed_call_reports_its_fields_without_a_session() -> None:
    listed = call(
        "call-1",
        session_id="sess-1",
        status="no-answer",
        disposition="no_answer",
        answered_by="unknown",
        duration_seconds=0.0,
        ended_at=NOON,
        error_message="nobody picked up",
    )
    assert report_from_call(listed) == CallReport(
        call_status="no-answer",
        disposition="no_answer",
        answered_by="unknown",
        call_id="call-1",
        session_id="sess-1",
        duration_seconds=0.0,
        ended_at=NOON,
        error="nobody picked up",
    )


def test_a_detailed_call_reports_its_sessions_credits_recording_transcript_and_extraction() -> None:
    detail = CallDetail.model_validate(
        {
            "call_id": "call-1",
            "status": "completed",
            "session_id": "sess-1",
            "session": {
                "session_id": "sess-1",
                "credits_used": 1.5,
                "recording_url": "https://recordings.example/sess-1.mp3",
                "transcript": [{"role": "user", "content": "Yes"}],
                "extraction": {"status": "done", "values": {"interested": True}},
            },
        }
    )
    report = report_from_call(detail)
    assert (report.credits_used, report.recording_url) == (
        1.5,
        "https://recordings.example/sess-1.mp3",
    )
    assert report.transcript == [{"role": "user", "content": "Yes", "timestamp": None}]
    assert report.extraction == {"status": "done", "values": {"interested": True}}


def test_a_detailed_call_without_a_session_reports_no_session_fields() -> None:
    report = report_from_call(CallDetail(call_id="call-1", status="failed"))
    assert (report.credits_used, report.recording_url, report.transcript, report.extraction) == (
        None,
        None,
        None,
        None,
    )


@pytest.mark.parametrize("started", range(1, DETAIL_POLLS + 1))
def test_a_few_overdue_started_attempts_without_unknown_ones_are_polled_by_id(
    started: int,
) -> None:
    assert by_id(started, unknown=0, calls_since_oldest=10 * PAGE)


def test_unknown_starts_are_found_in_a_listing_unless_pages_would_cost_more() -> None:
    assert not by_id(1, unknown=1, calls_since_oldest=0)
    assert not by_id(DETAIL_POLLS + 1, unknown=0, calls_since_oldest=0)
    # Reading back to the oldest takes 4 pages: cheaper to ask for 5 attempts one by one? No.
    assert not by_id(5, unknown=1, calls_since_oldest=3 * PAGE)
    # ... but for 3 attempts behind 4 pages of newer calls, asking each one is cheaper.
    assert by_id(3, unknown=1, calls_since_oldest=3 * PAGE)
