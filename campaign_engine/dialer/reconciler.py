"""Learn outcomes Vocobase never sent us, and settle starts whose fate was unknown.

Runs inside the scheduler, spending at most its share of the ``/calls/*`` request budget
(taken from the same shared limiter as dialing, so dialing is never starved):

- ``started`` attempts whose webhook is overdue: ``GET /calls/{id}``; a final status is
  recorded through the same path as a webhook; past the deadline the attempt ``expired``.
- ``dialing`` attempts older than a request could take: their worker died mid-request, so
  they become ``unknown``.
- ``unknown`` attempts: ``GET /calls`` pages, newest first, until older than the oldest
  one; a call to the same number placed after the claim is ours. None found after a grace
  period: Vocobase never dialed, so the contact gets a fresh attempt (``lost``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from campaign_engine.campaigns.outcomes import is_final_call_status
from campaign_engine.campaigns.states import AttemptState
from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.dialer.attempts import give_attempt_back, mark_started
from campaign_engine.dialer.limit_plan import poll_plan, slot_names_for
from campaign_engine.dialer.outcome import CallReport, Recorded, expire_attempt, record_outcome
from campaign_engine.runtime import Runtime
from campaign_engine.vocobase.errors import NotFound, VocobaseError
from campaign_engine.vocobase.models import Call, CallDetail

log = logging.getLogger(__name__)

# How far apart our clock and Vocobase's may be when matching an unknown start.
CLOCK_SKEW = timedelta(seconds=30)
PAGE = 100
MAX_POLLS_PER_TICK = 20


@dataclass
class ReconcileStats:
    polled: int = 0
    recorded: int = 0
    expired: int = 0
    found: int = 0
    lost: int = 0
    orphaned: int = 0


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


class Reconciler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.plan = poll_plan(settings.limits, settings.scheduler.reconcile_budget_share)
        self.after = timedelta(seconds=settings.scheduler.reconcile_after_seconds)
        self.grace = timedelta(seconds=settings.scheduler.unknown_grace_seconds)
        self.request_time = timedelta(
            seconds=settings.vocobase.timeout_seconds + settings.vocobase.connect_timeout_seconds
        )

    async def run_once(self) -> ReconcileStats:
        stats = ReconcileStats()
        await self._orphaned_dialing(stats)
        await self._overdue_started(stats)
        await self._unknown(stats)
        return stats

    async def _token(self) -> bool:
        grant = await self.runtime.limiter.acquire(self.plan)
        return grant.granted

    async def _release(self, recorded: Recorded) -> None:
        if recorded.applied:
            await self.runtime.limiter.release(recorded.slot_names, recorded.lease)

    async def _orphaned_dialing(self, stats: ReconcileStats) -> None:
        cutoff = utcnow() - self.request_time - timedelta(seconds=5)
        async with self.runtime.sessions() as session, session.begin():
            result = await session.execute(
                update(CallAttempt)
                .where(
                    CallAttempt.state == AttemptState.DIALING.value,
                    CallAttempt.claimed_at <= cutoff,
                )
                .values(
                    state=AttemptState.UNKNOWN.value,
                    error="worker stopped during the start request",
                )
            )
        stats.orphaned += int(getattr(result, "rowcount", 0))

    async def _overdue_started(self, stats: ReconcileStats) -> None:
        now = utcnow()
        async with self.runtime.sessions() as session:
            overdue = (
                await session.scalars(
                    select(CallAttempt)
                    .where(
                        CallAttempt.state == AttemptState.STARTED.value,
                        CallAttempt.claimed_at <= now - self.after,
                        (CallAttempt.polled_at.is_(None))
                        | (CallAttempt.polled_at <= now - self.after),
                    )
                    .order_by(CallAttempt.polled_at.is_not(None), CallAttempt.polled_at)
                    .limit(MAX_POLLS_PER_TICK)
                )
            ).all()
        for attempt in overdue:
            if attempt.deadline_at <= now:
                await self._expire(attempt.id, "no outcome by the deadline", stats)
                continue
            if attempt.call_id is None or not await self._token():
                continue
            await self._poll_one(attempt, stats)

    async def _poll_one(self, attempt: CallAttempt, stats: ReconcileStats) -> None:
        stats.polled += 1
        try:
            call = await self.runtime.vocobase.get_call(attempt.call_id or "")
        except NotFound:
            call = None
        except VocobaseError as exc:
            log.warning("polling attempt %s failed: %s", attempt.id, exc)
            return
        async with self.runtime.sessions() as session, session.begin():
            if call is not None and is_final_call_status(call.status):
                recorded = await record_outcome(session, attempt.id, report_from_call(call))
                stats.recorded += int(recorded.applied)
            else:
                recorded = None
                await session.execute(
                    update(CallAttempt)
                    .where(CallAttempt.id == attempt.id)
                    .values(polled_at=utcnow())
                )
        if recorded is not None:
            await self._release(recorded)

    async def _expire(self, attempt_id: int, reason: str, stats: ReconcileStats) -> None:
        async with self.runtime.sessions() as session, session.begin():
            recorded = await expire_attempt(session, attempt_id, reason)
        stats.expired += int(recorded.applied)
        await self._release(recorded)

    async def _unknown(self, stats: ReconcileStats) -> None:
        async with self.runtime.sessions() as session:
            unknown = (
                await session.scalars(
                    select(CallAttempt)
                    .where(CallAttempt.state == AttemptState.UNKNOWN.value)
                    .order_by(CallAttempt.claimed_at)
                    .limit(PAGE)
                )
            ).all()
        if not unknown:
            return
        calls = await self._recent_calls(min(a.claimed_at for a in unknown) - CLOCK_SKEW, stats)
        if calls is None:
            return
        async with self.runtime.sessions() as session:
            stored = await session.scalars(
                select(CallAttempt.call_id).where(
                    CallAttempt.call_id.in_([c.call_id for c in calls])
                )
            )
            known = {call_id for call_id in stored.all() if call_id is not None}
        for attempt in unknown:
            match = _match(attempt, calls, known)
            if match is not None:
                known.add(match.call_id)
                await self._found(attempt, match, stats)
            elif attempt.claimed_at <= utcnow() - self.grace:
                await self._lost(attempt, stats)

    async def _recent_calls(self, oldest: datetime, stats: ReconcileStats) -> list[Call] | None:
        """Calls created since ``oldest``, newest first; None when the budget ran out."""
        calls: list[Call] = []
        offset = 0
        while True:
            if not await self._token():
                return None
            stats.polled += 1
            try:
                page = await self.runtime.vocobase.list_calls(limit=PAGE, offset=offset)
            except VocobaseError as exc:
                log.warning("listing calls failed: %s", exc)
                return None
            calls.extend(page.calls)
            offset += len(page.calls)
            oldest_seen = page.calls[-1].created_at if page.calls else None
            if not page.calls or offset >= page.total or (oldest_seen and oldest_seen < oldest):
                return calls

    async def _found(self, attempt: CallAttempt, call: Call, stats: ReconcileStats) -> None:
        stats.found += 1
        async with self.runtime.sessions() as session, session.begin():
            await mark_started(
                session, attempt.id, call_id=call.call_id, session_id=call.session_id
            )
            recorded = None
            if is_final_call_status(call.status):
                recorded = await record_outcome(session, attempt.id, report_from_call(call))
        if recorded is not None:
            await self._release(recorded)

    async def _lost(self, attempt: CallAttempt, stats: ReconcileStats) -> None:
        """Vocobase has no call for this attempt: it never dialed, so the contact may be."""
        async with self.runtime.sessions() as session, session.begin():
            moved = await session.execute(
                update(CallAttempt)
                .where(
                    CallAttempt.id == attempt.id,
                    CallAttempt.state == AttemptState.UNKNOWN.value,
                )
                .values(state=AttemptState.LOST.value, ended_at=utcnow())
            )
            if not getattr(moved, "rowcount", 0):
                return
            await give_attempt_back(
                session,
                attempt.contact_id,
                error="start request failed and Vocobase has no such call",
                delay_seconds=0,
            )
        stats.lost += 1
        await self.runtime.limiter.release(
            slot_names_for(attempt.provider, attempt.campaign_id),
            f"{attempt.contact_id}:{attempt.attempt_number}",
        )


def _match(attempt: CallAttempt, calls: list[Call], taken: set[str]) -> Call | None:
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
