"""What ``GET /calls`` answers mean for our attempts (pure: no I/O).

The order of a listing is not documented, so nothing here assumes one: an ``unknown``
start is matched to a call to its number created after its claim — on Vocobase's clock,
through the offset learned from our own calls (:mod:`~campaign_engine.dialer.clock_offset`)
— wherever in the listing it is, and it is declared lost only from a listing read whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from campaign_engine.db.models import CallAttempt
from campaign_engine.dialer.clock_offset import OffsetBounds, Sample
from campaign_engine.outcomes.record import POLL, CallReport
from campaign_engine.vocobase.schemas import Call, CallDetail

# Calls per GET /calls page.
PAGE = 100


def report_from_call(call: Call | CallDetail) -> CallReport:
    """What a poll knows of a finished call; the disposition only if Vocobase sent one."""
    session = call.session if isinstance(call, CallDetail) else None
    return CallReport(
        call_status=call.status,
        disposition=call.disposition,
        answered_by=call.answered_by,
        call_id=call.call_id,
        session_id=call.session_id,
        duration_seconds=call.duration_seconds,
        credits_used=session.credits_used if session else None,
        recording_url=session.recording_url if session else None,
        extraction=session.extraction.model_dump() if session and session.extraction else None,
        transcript=[turn.model_dump() for turn in session.transcript] if session else None,
        ended_at=call.ended_at,
        error=call.error_message,
        source=POLL,
    )


def offset_samples(calls: Iterable[Call], ours: Mapping[str, CallAttempt]) -> list[Sample]:
    """The clock samples a listing gives: each of our started calls with its times."""
    samples = []
    for call in calls:
        attempt = ours.get(call.call_id)
        if attempt is None or call.created_at is None or attempt.started_at is None:
            continue
        samples.append(Sample(attempt.claimed_at, attempt.started_at, call.created_at))
    return samples


def match_unknown(
    attempt: CallAttempt, calls: Iterable[Call], taken: set[str], offset: OffsetBounds | None
) -> Call | None:
    """The earliest call to the attempt's number created after its claim and not already
    another attempt's. Without a learned offset any such call may be it: a wrong match
    costs a contact a redial later, never a call twice."""
    earliest = offset.their_time(attempt.claimed_at) if offset is not None else None
    candidates = [
        call
        for call in calls
        if call.to_number == attempt.to_number
        and call.call_id not in taken
        and (earliest is None or call.created_at is None or call.created_at >= earliest)
    ]
    if not candidates:
        return None
    return min(
        candidates, key=lambda call: (call.created_at is None, call.created_at, call.call_id)
    )
