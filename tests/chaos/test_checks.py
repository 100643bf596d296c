from datetime import UTC, datetime, timedelta
from typing import Any

from chaos.checks import (
    ContactRow,
    InboxRow,
    PlacedCall,
    RecordedAttempt,
    double_dials,
    placement_pace,
    stuck_contacts,
    unknown_calls,
    verdict,
    webhook_application,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NUMBER = "+919000000001"


def call(call_id: str, start: int, end: int | None, deliveries: int = 1) -> PlacedCall:
    return PlacedCall(
        call_id=call_id,
        session_id=f"s-{call_id}",
        to_number=NUMBER,
        created_at=T0 + timedelta(seconds=start),
        ended_at=None if end is None else T0 + timedelta(seconds=end),
        disposition="no_answer",
        webhook_deliveries=deliveries,
    )


def attempt(call_id: str | None, outcome: str | None = "no_answer") -> RecordedAttempt:
    return RecordedAttempt(call_id, NUMBER, "ended", outcome, outcome)


def test_a_retry_after_a_recorded_outcome_is_not_a_double_dial() -> None:
    calls = [call("a", 0, 10), call("b", 20, 30)]
    assert double_dials(calls, [attempt("a"), attempt("b")]) == []


def test_a_call_placed_while_another_to_the_number_is_live_is_an_overlap() -> None:
    calls = [call("b", 5, 30), call("a", 0, 10)]
    found = double_dials(calls, [attempt("a"), attempt("b")])
    assert found == [{"number": NUMBER, "first": "a", "second": "b", "reason": "overlap"}]


def test_an_overlap_with_an_earlier_longer_call_is_found_past_a_short_one() -> None:
    calls = [call("a", 0, 100), call("b", 10, 20), call("c", 50, 60)]
    reasons = [found["second"] for found in double_dials(calls, [attempt(x) for x in "abc"])]
    assert reasons == ["b", "c"]


def test_a_redial_after_a_call_without_a_recorded_outcome_is_a_double_dial() -> None:
    calls = [call("a", 0, 10), call("b", 20, 30)]
    found = double_dials(calls, [attempt("a", outcome=None), attempt("b")])
    assert [f["reason"] for f in found] == ["no_outcome_between"]
    # ... and so is one after a call the engine has no attempt for at all.
    assert [f["reason"] for f in double_dials(calls, [attempt("b")])] == ["no_outcome_between"]


def test_a_call_that_never_ended_makes_every_later_one_an_overlap() -> None:
    calls = [call("a", 0, None), call("b", 20, 30)]
    assert [f["reason"] for f in double_dials(calls, [attempt("a"), attempt("b")])] == ["overlap"]


def test_calls_no_attempt_knows_are_listed() -> None:
    assert unknown_calls([call("a", 0, 1), call("b", 2, 3)], [attempt("a"), attempt(None)]) == ["b"]


def test_contacts_missing_or_neither_final_nor_waiting_with_a_reason_are_reported() -> None:
    rows = [
        ContactRow("+1", "completed", None, None),
        ContactRow("+2", "retrying", T0, None),
        ContactRow("+3", "pending", None, "no slot"),
        ContactRow("+4", "calling", None, None),
        ContactRow("+5", "pending", None, None),
    ]
    found = stuck_contacts(["+1", "+2", "+3", "+4", "+5", "+6"], rows)
    assert found == {"lost": ["+6"], "stuck": ["+4", "+5"]}


def test_every_delivered_webhook_stored_once_and_applied_passes() -> None:
    calls = [call("a", 0, 1, deliveries=2), call("b", 2, 3, deliveries=0)]
    inbox = [InboxRow("s-a", "applied", 1)]
    figures = webhook_application(calls, inbox, [attempt("a")])
    assert figures["delivered_not_stored"] == figures["not_applied"] == []
    assert figures["outcome_differs_from_ledger"] == []
    assert figures["ledger_deliveries"] == figures["inbox_deliveries_counted"] == 2


def test_webhooks_missing_unapplied_repeated_or_wrongly_applied_are_reported() -> None:
    calls = [call(x, 0, 1) for x in "abcd"]
    inbox = [
        InboxRow("s-b", "received", 0),
        InboxRow("s-c", "applied", 0),
        InboxRow("s-c", "applied", 0),
        InboxRow("s-d", "applied", 0),
    ]
    attempts = [attempt("a"), attempt("b"), attempt("c"), attempt("d", outcome="busy")]
    figures = webhook_application(calls, inbox, attempts)
    assert figures["delivered_not_stored"] == ["a"]
    assert figures["not_applied"] == ["b"]
    assert figures["stored_more_than_once"] == ["c"]
    assert figures["outcome_differs_from_ledger"] == ["d"]


def _clean() -> dict[str, Any]:
    return {
        "completed": True,
        "double_dials": [],
        "calls_unknown_to_engine": [],
        "contacts": {"lost": [], "stuck": []},
        "peak_concurrency": 5,
        "concurrency_limit": 5,
        "webhooks": {
            "delivered_not_stored": [],
            "stored_more_than_once": [],
            "not_applied": [],
            "outcome_differs_from_ledger": [],
        },
    }


def test_a_clean_soak_passes_and_each_violation_fails_it() -> None:
    assert verdict(_clean()) == []
    spoiled = _clean()
    spoiled["peak_concurrency"] = 6
    spoiled["double_dials"] = [{"number": NUMBER}]
    spoiled["contacts"] = {"lost": ["+1"], "stuck": []}
    spoiled["webhooks"]["not_applied"] = ["a"]
    assert verdict(spoiled) == [
        "numbers dialed twice without a final outcome between",
        "contacts lost or stuck",
        "more calls live than the concurrency limit",
        "webhooks: not applied",
    ]


def test_the_pace_names_the_longest_stretch_without_a_new_call() -> None:
    calls = [call("a", 1, 2), call("b", 3, 4), call("c", 13, 14), call("d", 15, 16)]
    assert placement_pace(calls, T0) == {
        "first_call_at": 1.0,
        "last_call_at": 15.0,
        "longest_pause": {"seconds": 10.0, "from": 3.0},
    }
    assert placement_pace([], T0)["longest_pause"] is None


def test_the_stretch_from_the_last_call_to_the_end_counts_as_a_pause() -> None:
    calls = [call("a", 1, 2), call("b", 3, 4)]
    pace = placement_pace(calls, T0, until=T0 + timedelta(seconds=30))
    assert pace["longest_pause"] == {"seconds": 27.0, "from": 3.0}
    assert pace["last_call_at"] == 3.0
