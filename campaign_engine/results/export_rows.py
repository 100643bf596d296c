"""One exported row, as a plain dictionary: per contact, or per attempt (no I/O).

A JSON Lines record keeps ``variables`` and ``extraction`` nested; a CSV row flattens them
into one column per name (``var.<name>``, ``extraction.<name>``), with the names collected
beforehand because a CSV header comes first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from campaign_engine.contacts.columns import KEPT_PREFIX, is_kept

CONTACT_FIELDS = (
    "contact_id",
    "phone",
    "state",
    "attempts",
    "last_outcome",
    "last_error",
    "last_attempt_number",
    "call_status",
    "disposition",
    "answered_by",
    "duration_seconds",
    "credits_used",
    "recording_url",
    "ended_at",
    "extraction_status",
)

ATTEMPT_FIELDS = (
    "attempt_id",
    "contact_id",
    "phone",
    "attempt_number",
    "state",
    "outcome",
    "call_status",
    "disposition",
    "answered_by",
    "duration_seconds",
    "credits_used",
    "call_id",
    "session_id",
    "recording_url",
    "error",
    "claimed_at",
    "started_at",
    "ended_at",
    "contact_state",
    "extraction_status",
    # Added last (scripts reading columns by position keep working): how the outcome was
    # learned — webhook, poll (decided without it), poll+webhook, engine.
    "outcome_source",
)

VARIABLE_PREFIX = "var."
# Columns kept at import for the export only (``contacts import --keep-column``).
KEPT_HEADER_PREFIX = "kept."
EXTRACTION_PREFIX = "extraction."


def extraction_parts(extraction: Any) -> tuple[str | None, dict[str, Any]]:
    """``(status, values)`` of a stored extraction (``{status, values}``), tolerant of odd
    shapes: it came from outside."""
    if not isinstance(extraction, Mapping):
        return None, {}
    values = extraction.get("values")
    status = extraction.get("status")
    return (
        str(status) if status is not None else None,
        dict(values) if isinstance(values, Mapping) else {},
    )


def _iso(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return value


def contact_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """A contact with its last finished attempt (JSON Lines shape)."""
    status, values = extraction_parts(row["extraction"])
    return {
        "contact_id": row["contact_id"],
        "phone": row["phone"],
        "state": row["state"],
        "attempts": row["attempts"],
        "last_outcome": row["last_outcome"],
        "last_error": row["last_error"],
        "last_attempt_number": row["attempt_number"],
        "call_status": row["call_status"],
        "disposition": row["disposition"],
        "answered_by": row["answered_by"],
        "duration_seconds": row["duration_seconds"],
        "credits_used": row["credits_used"],
        "recording_url": row["recording_url"],
        "ended_at": _iso(row["ended_at"]),
        "extraction_status": status,
        "variables": dict(row["variables"] or {}),
        "extraction": values,
    }


def attempt_record(row: Mapping[str, Any]) -> dict[str, Any]:
    """One attempt with its contact's phone and variables (JSON Lines shape)."""
    status, values = extraction_parts(row["extraction"])
    return {
        "attempt_id": row["attempt_id"],
        "contact_id": row["contact_id"],
        "phone": row["phone"],
        "attempt_number": row["attempt_number"],
        "state": row["attempt_state"],
        "outcome": row["outcome"],
        "call_status": row["call_status"],
        "disposition": row["disposition"],
        "answered_by": row["answered_by"],
        "duration_seconds": row["duration_seconds"],
        "credits_used": row["credits_used"],
        "call_id": row["call_id"],
        "session_id": row["session_id"],
        "recording_url": row["recording_url"],
        "error": row["error"],
        "claimed_at": _iso(row["claimed_at"]),
        "started_at": _iso(row["started_at"]),
        "ended_at": _iso(row["ended_at"]),
        "contact_state": row["state"],
        "extraction_status": status,
        "outcome_source": row.get("outcome_source"),
        "variables": dict(row["variables"] or {}),
        "extraction": values,
        "transcript": row["transcript"],
    }


def transcript_text(transcript: Any) -> str:
    """A transcript as ``role: content`` lines (one CSV cell)."""
    if not isinstance(transcript, list):
        return ""
    lines = []
    for turn in transcript:
        if isinstance(turn, Mapping):
            lines.append(f"{turn.get('role', '')}: {turn.get('content', '')}")
    return "\n".join(lines)


def csv_header(
    fields: Sequence[str], variables: Sequence[str], extraction: Sequence[str], *, transcript: bool
) -> list[str]:
    header = list(fields)
    header += [
        KEPT_HEADER_PREFIX + name.removeprefix(KEPT_PREFIX)
        if is_kept(name)
        else VARIABLE_PREFIX + name
        for name in variables
    ]
    header += [EXTRACTION_PREFIX + name for name in extraction]
    if transcript:
        header.append("transcript")
    return header


def flatten(
    record: Mapping[str, Any],
    fields: Sequence[str],
    variables: Sequence[str],
    extraction: Sequence[str],
    *,
    transcript: bool,
) -> list[Any]:
    """A record as CSV values in the header's order (missing names are empty)."""
    values: list[Any] = [record.get(name) for name in fields]
    record_variables = record.get("variables") or {}
    values += [record_variables.get(name) for name in variables]
    record_extraction = record.get("extraction") or {}
    values += [record_extraction.get(name) for name in extraction]
    if transcript:
        values.append(transcript_text(record.get("transcript")))
    return values
