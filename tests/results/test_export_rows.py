"""One exported row per contact or per attempt, flattened for CSV (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from campaign_engine.results.export_rows import (
    ATTEMPT_FIELDS,
    CONTACT_FIELDS,
    attempt_record,
    contact_record,
    csv_header,
    extraction_parts,
    flatten,
    transcript_text,
)

ENDED = datetime(2026, 5, 4, 10, 30, 5, tzinfo=UTC)


def contact_row(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "contact_id": 7,
        "phone": "+919876543210",
        "state": "completed",
        "attempts": 2,
        "last_outcome": "completed",
        "last_error": None,
        "variables": {"name": "Asha", "due": "1200"},
        "attempt_number": 2,
        "call_status": "completed",
        "disposition": "completed",
        "answered_by": "human",
        "duration_seconds": 42.5,
        "credits_used": 1.25,
        "recording_url": "https://rec.example/7.mp3",
        "ended_at": ENDED,
        "extraction": {"status": "success", "values": {"promise_date": "2026-05-10"}},
    }
    row.update(changes)
    return row


def test_contact_record_has_the_final_state_and_the_last_finished_attempt() -> None:
    record = contact_record(contact_row())
    assert set(CONTACT_FIELDS) <= set(record)
    assert (record["state"], record["attempts"], record["last_attempt_number"]) == (
        "completed",
        2,
        2,
    )
    assert (record["disposition"], record["answered_by"], record["duration_seconds"]) == (
        "completed",
        "human",
        42.5,
    )
    assert record["ended_at"] == "2026-05-04T10:30:05Z"
    assert record["extraction_status"] == "success"
    assert record["extraction"] == {"promise_date": "2026-05-10"}


def test_a_contact_never_called_has_empty_attempt_fields() -> None:
    empty = dict.fromkeys(
        [
            "attempt_number",
            "call_status",
            "disposition",
            "answered_by",
            "duration_seconds",
            "credits_used",
            "recording_url",
            "ended_at",
            "extraction",
        ]
    )
    record = contact_record(contact_row(state="pending", attempts=0, **empty))
    assert record["last_attempt_number"] is None
    assert (record["extraction_status"], record["extraction"]) == (None, {})


def test_odd_extraction_shapes_do_not_break_the_export() -> None:
    assert extraction_parts(None) == (None, {})
    assert extraction_parts("text") == (None, {})
    assert extraction_parts({"status": "failed", "values": None}) == ("failed", {})


def test_attempt_record_carries_ids_times_and_the_transcript() -> None:
    row = {
        **contact_row(),
        "attempt_id": 41,
        "contact_id": 7,
        "attempt_state": "ended",
        "outcome": "completed",
        "call_id": "call-41",
        "session_id": "sess-41",
        "error": None,
        "claimed_at": ENDED,
        "started_at": None,
        "transcript": [{"role": "user", "content": "Yes"}],
    }
    record = attempt_record(row)
    assert set(ATTEMPT_FIELDS) <= set(record)
    assert (record["attempt_id"], record["state"], record["contact_state"]) == (
        41,
        "ended",
        "completed",
    )
    assert record["transcript"] == [{"role": "user", "content": "Yes"}]


def test_csv_columns_are_the_fields_then_one_per_variable_and_extraction_value() -> None:
    header = csv_header(["a", "b"], ["name"], ["score"], transcript=True)
    assert header == ["a", "b", "var.name", "extraction.score", "transcript"]
    record = {"a": 1, "variables": {"name": "Asha"}, "extraction": {}, "transcript": None}
    assert flatten(record, ["a", "b"], ["name", "city"], ["score"], transcript=True) == [
        1,
        None,
        "Asha",
        None,
        None,
        "",
    ]


def test_transcript_becomes_role_content_lines() -> None:
    turns = [{"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Hi"}, "x"]
    assert transcript_text(turns) == "assistant: Hello\nuser: Hi"
    assert transcript_text(None) == ""
