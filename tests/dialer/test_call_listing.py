"""What ``GET /calls`` answers mean for our attempts: plain functions, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from campaign_engine.db.models import CallAttempt
from campaign_engine.dialer.call_listing import match_unknown, offset_samples, report_from_call
from campaign_engine.dialer.clock_offset import OffsetBounds, Sample
from campaign_engine.outcomes.record import POLL, CallReport
from campaign_engine.vocobase.schemas import Call, CallDetail

NOON = datetime(2030, 6, 3, 12, tzinfo=UTC)
SAME_CLOCK = OffsetBounds(timedelta(0), timedelta(seconds=1))
PHONE = "+919800000001"


def call(call_id: str, *, created_at: datetime | None = NOON, **fields: Any) -> Call:
    fields.setdefault("to_number", PHONE)
    fields.setdefault("status", "completed")
    return Call(call_id=call_id, created_at=created_at, **fields)


def attempt(claimed_at: datetime, to_number: str = PHONE) -> CallAttempt:
    return CallAttempt(claimed_at=claimed_at, to_number=to_number)


def test_an_unknown_start_matches_the_oldest_call_to_its_number_after_its_claim() -> None:
    claimed = NOON
    calls = [  # in no particular order: the listing's order is not documented
        call("newer", created_at=claimed + timedelta(minutes=2)),
        call("before the claim", created_at=claimed - timedelta(seconds=1)),
        call("other number", created_at=claimed + timedelta(minutes=1), to_number="+91980000009"),
        call("oldest after", created_at=claimed + timedelta(seconds=5)),
    ]
    found = match_unknown(attempt(claimed), calls, taken=set(), offset=SAME_CLOCK)
    assert found is not None and found.call_id == "oldest after"


def test_an_unknown_start_skips_calls_already_taken_by_another_attempt() -> None:
    calls = [call("second", created_at=NOON + timedelta(minutes=1)), call("first")]
    found = match_unknown(attempt(NOON), calls, taken={"first"}, offset=SAME_CLOCK)
    assert found is not None and found.call_id == "second"
    assert match_unknown(attempt(NOON), calls, taken={"first", "second"}, offset=None) is None


def test_an_unknown_start_reads_created_at_on_vocobases_clock_through_the_learned_offset() -> None:
    slow = OffsetBounds(timedelta(seconds=-46), timedelta(seconds=-44))
    on_their_clock = call("skewed", created_at=NOON - timedelta(seconds=44))
    assert (
        match_unknown(attempt(NOON), [on_their_clock], taken=set(), offset=slow) == on_their_clock
    )
    assert match_unknown(attempt(NOON), [on_their_clock], taken=set(), offset=SAME_CLOCK) is None


def test_without_a_learned_offset_any_call_to_the_number_may_be_it() -> None:
    """Matching wrongly costs a redial later; refusing to match could dial twice."""
    old = call("old", created_at=NOON - timedelta(hours=1))
    assert match_unknown(attempt(NOON), [old], taken=set(), offset=None) == old
    undated = call("undated", created_at=None)
    assert match_unknown(attempt(NOON), [undated], taken=set(), offset=SAME_CLOCK) == undated


def test_our_started_calls_in_a_listing_are_clock_samples() -> None:
    ours = CallAttempt(claimed_at=NOON, started_at=NOON + timedelta(seconds=1))
    listed = [call("ours", created_at=NOON + timedelta(seconds=45)), call("theirs")]
    assert offset_samples(listed, {"ours": ours}) == [
        Sample(NOON, NOON + timedelta(seconds=1), NOON + timedelta(seconds=45))
    ]
    assert offset_samples(listed, {"ours": CallAttempt(claimed_at=NOON)}) == []


def test_an_unknown_start_matches_nothing_to_another_number() -> None:
    calls = [call("c1", to_number="+14155550100")]
    assert match_unknown(attempt(NOON), calls, taken=set(), offset=None) is None


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
        source=POLL,
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
