"""The sliding window and active-call arithmetic, with time passed in."""

from __future__ import annotations

from campaign_engine.simulator.api_limits import (
    SlidingWindow,
    concurrency_view,
    is_active,
    retry_after_header,
)


def test_window_counts_only_requests_inside_the_trailing_window() -> None:
    window = SlidingWindow()
    for now in (0.0, 10.0, 59.0):
        window.record(now, 60)
    assert window.count(59.5, 60) == 3
    assert window.count(60.0, 60) == 2  # the request at t=0 has left (0, 60]
    assert window.count(125.0, 60) == 0


def test_window_has_no_room_at_limit_until_oldest_expires() -> None:
    window = SlidingWindow()
    for now in (0.0, 1.0):
        window.record(now, 60)
    assert not window.has_room(30.0, 2, 60)
    assert window.has_room(60.0, 2, 60)


def test_checking_room_does_not_use_budget() -> None:
    window = SlidingWindow()
    for _ in range(5):
        assert window.has_room(0.0, 1, 60)
    assert window.record(0.0, 60) == 1


def test_record_returns_count_including_the_new_request() -> None:
    window = SlidingWindow()
    assert [window.record(t, 60) for t in (0.0, 1.0, 2.0)] == [1, 2, 3]


def test_retry_after_is_time_until_oldest_request_leaves() -> None:
    window = SlidingWindow()
    window.record(10.0, 60)
    window.record(20.0, 60)
    assert window.retry_after(40.0, 60) == 30.0
    assert SlidingWindow().retry_after(0.0, 60) == 0.0


def test_retry_after_header_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(2.01) == "3"
    assert retry_after_header(0.0) == "1"


def test_only_pending_ringing_in_progress_count_as_active() -> None:
    statuses = ["pending", "ringing", "in_progress", "completed", "busy", "no_answer", "failed"]
    assert [status for status in statuses if is_active(status)] == statuses[:3]


def test_concurrency_view_reports_remaining_never_negative() -> None:
    view = concurrency_view(limit=2, active=3)
    assert view == {
        "limit": 2,
        "limit_source": "partner",
        "active": 3,
        "remaining": 0,
        "statuses_counted": ["PENDING", "RINGING", "IN_PROGRESS"],
    }
