"""What a notification says: plain dictionaries built from an attempt and its contact.

Built once, when the outcome is recorded, and stored as the outbox row's payload: the
operator receives what the engine knew at that moment, however late the delivery. Times
are ISO-8601 UTC strings so the payload survives a JSON column on every backend.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from campaign_engine.db.models import CallAttempt

ATTEMPT = "attempt"
FINAL = "final"

# The ``event`` of the delivered body, per outbox kind.
EVENTS = {ATTEMPT: "attempt.outcome", FINAL: "contact.final"}


@dataclass(frozen=True)
class ContactView:
    """The contact as it stands right after the outcome was recorded."""

    contact_id: int
    campaign_id: str
    phone: str
    variables: dict[str, Any]
    state: str
    attempts_count: int
    last_outcome: str | None
    next_attempt_at: datetime | None
    last_error: str | None = None


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def attempt_view(attempt: CallAttempt) -> dict[str, Any]:
    """Everything stored about one finished attempt."""
    extraction = attempt.extraction or None
    return {
        "id": attempt.id,
        "number": attempt.attempt_number,
        "state": attempt.state,
        "outcome": attempt.outcome,
        "call_status": attempt.call_status,
        "disposition": attempt.disposition,
        "answered_by": attempt.answered_by,
        "duration_seconds": attempt.duration_seconds,
        "credits_used": attempt.credits_used,
        "recording_url": attempt.recording_url,
        "extraction": extraction,
        "transcript": attempt.transcript,
        "call_id": attempt.call_id,
        "session_id": attempt.session_id,
        "error": attempt.error,
        "claimed_at": iso(attempt.claimed_at),
        "started_at": iso(attempt.started_at),
        "ended_at": iso(attempt.ended_at),
    }


def _contact_part(contact: ContactView) -> dict[str, Any]:
    return {
        "campaign_id": contact.campaign_id,
        "contact_id": contact.contact_id,
        "phone": contact.phone,
        "variables": dict(contact.variables),
    }


def attempt_payload(attempt: CallAttempt, contact: ContactView, *, final: bool) -> dict[str, Any]:
    """One attempt's outcome; ``final`` says whether it was the contact's last attempt."""
    return {
        **_contact_part(contact),
        "attempt_number": attempt.attempt_number,
        "final": final,
        "contact_state": contact.state,
        "next_attempt_at": iso(contact.next_attempt_at),
        "attempt": attempt_view(attempt),
    }


def final_payload(attempt: CallAttempt, contact: ContactView) -> dict[str, Any]:
    """The contact's final result, with the attempt that settled it."""
    return {
        **_contact_part(contact),
        "attempt_number": attempt.attempt_number,
        "final": True,
        "state": contact.state,
        "attempts": contact.attempts_count,
        "last_outcome": contact.last_outcome,
        "last_attempt": attempt_view(attempt),
    }


def closed_payload(last_attempt: CallAttempt | None, contact: ContactView) -> dict[str, Any]:
    """The final result of a contact closed without a call (suppressed at dial time,
    canceled, skipped): its last attempt when it had one, and why it was closed."""
    return {
        **_contact_part(contact),
        "attempt_number": last_attempt.attempt_number if last_attempt else 0,
        "final": True,
        "state": contact.state,
        "attempts": contact.attempts_count,
        "last_outcome": contact.last_outcome,
        "last_attempt": attempt_view(last_attempt) if last_attempt else None,
        "closed_without_call": True,
        "reason": contact.last_error,
    }


def envelope(
    notification_id: int, kind: str, created_at: datetime, payload: dict[str, Any]
) -> dict[str, Any]:
    """The delivered body. ``id`` is stable across retries: receivers de-duplicate on it."""
    return {
        "event": EVENTS.get(kind, kind),
        "id": notification_id,
        "created_at": iso(created_at),
        "data": payload,
    }
