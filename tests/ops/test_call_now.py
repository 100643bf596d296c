"""The words and JSON of a "call now" answer: now, later (when), or never."""

from __future__ import annotations

from datetime import UTC, datetime

from campaign_engine.ops.call_now import CallNow, summary

AT = datetime(2030, 6, 3, 4, 30, tzinfo=UTC)


def test_a_call_now_answer_says_now_or_when_or_why_never() -> None:
    now = CallNow(1, "exhausted", AT)
    later = CallNow(2, "retrying", AT, held="outside calling hours 10:00-13:00")
    never = CallNow(3, "failed", None, held="campaign paused: called once it runs")

    assert now.when() == "is due now, called ahead of the queue"
    assert later.when() == (
        "will be called at 2030-06-03T04:30:00+00:00 (outside calling hours 10:00-13:00)"
    )
    assert never.when() == "is not called now: campaign paused: called once it runs"
    assert later.to_dict() == {
        "contact_id": 2,
        "from_state": "retrying",
        "now": False,
        "due_at": "2030-06-03T04:30:00+00:00",
        "held": "outside calling hours 10:00-13:00",
    }


def test_a_requeue_summary_starts_with_the_count_and_names_the_first_later_moment() -> None:
    now = CallNow(1, "failed", AT)
    assert summary([now, now]) == "requeued 2"
    later = CallNow(2, "failed", AT, held="closed")
    never = CallNow(3, "failed", None, held="campaign paused")
    assert summary([now, later, never, never]) == (
        "requeued 4; 1 when their window opens (the first at 2030-06-03T04:30:00+00:00); "
        "2 not now: campaign paused"
    )
