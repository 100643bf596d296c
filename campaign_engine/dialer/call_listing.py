"""What ``GET /calls`` answers mean for our attempts (pure: no I/O).

A listing is read newest first; when the reconciler's budget stops it halfway, it is still
complete back to its oldest call, and only attempts claimed after that may be judged from
it. An ``unknown`` attempt is matched to a call to the same number placed after its claim.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from campaign_engine.db.models import CallAttempt
from campaign_engine.outcomes.record import CallReport
from campaign_engine.vocobase.schemas import Call, CallDetail

# How far apart our clock and Vocobase's may be when matching an unknown start.
CLOCK_SKEW = timedelta(seconds=30)
# Calls per GET /calls page.
PAGE = 100
# Up to this many overdue started attempts (and no unknown one) are polled one by one.
DETAIL_POLLS = 2


@dataclass(frozen=True)
class Listing:
    """Calls read from ``GET /calls``, newest first; ``covers_since`` is how far back they
    are complete (None: as far back as was asked)."""

    calls: list[Call]
    covers_since: datetime | None

    def covers(self, claimed_at: datetime) -> bool:
        return self.covers_since is None or claimed_at - CLOCK_SKEW >= self.covers_since


def report_from_call(call: Call | CallDetail) -> CallReport:
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
    )


def partial_listing(calls: list[Call]) -> Listing | None:
    """What a listing cut short still proves: complete back to its oldest call."""
    if not calls:
        return None
    oldest = min((c.created_at for c in calls if c.created_at is not None), default=None)
    if oldest is None:
        return None
    return Listing(calls, oldest)


def match_unknown(attempt: CallAttempt, calls: list[Call], taken: set[str]) -> Call | None:
    """The oldest call to the attempt's number placed after its claim and not yet ours."""
    earliest = attempt.claimed_at - CLOCK_SKEW
    candidates = [
        call
        for call in calls
        if call.to_number == attempt.to_number
        and call.call_id not in taken
        and (call.created_at is None or call.created_at >= earliest)
    ]
    return candidates[-1] if candidates else None


def by_id(started: int, unknown: int, calls_since_oldest: int) -> bool:
    """Look the overdue started attempts up one by one (``GET /calls/{id}``) rather than in
    ``GET /calls`` pages (plain)? Yes for a few of them and no unknown start (the detail
    carries the whole session), and whenever reading pages back to the oldest would take
    more requests than asking for each (an old attempt among many newer calls). Unknown
    starts have no call id: they are always found in a listing."""
    if not unknown and started <= DETAIL_POLLS:
        return True
    return calls_since_oldest // PAGE + 1 > started
