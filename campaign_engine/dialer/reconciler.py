"""Learn outcomes Vocobase never sent us, and settle starts whose fate was unknown.

Runs inside the scheduler, spending at most its share of the ``/calls/*`` request budget
(taken from the same shared limiter as dialing, so dialing is never starved):

- ``dialing`` attempts older than a request could take: their worker died mid-request, so
  they become ``unknown``.
- ``started`` attempts whose webhook is overdue, and ``unknown`` attempts, are looked up:
  with ``GET /calls/{id}`` when only a few started ones are waiting (its answer carries the
  session: transcript, recording, credits) or when reading pages back to the oldest would
  take more requests than asking for each, else with ``GET /calls`` pages of 100, newest
  first, stopping once older than the oldest attempt looked for — one request settles up
  to a hundred attempts. "Overdue" starts ``reconcile_after_seconds`` after the claim, not
  only at the deadline (the agent's maximum call duration plus the margin): most calls are
  far shorter than the maximum, and a call whose webhook was lost holds its concurrency
  slot until it is settled. Attempts past their deadline are looked up first. A final
  status is recorded through the same path as a webhook (any webhook that arrived
  unmatched is applied first: it carries more). An ``unknown``
  attempt is matched to a call to the same number placed after its claim; none after a
  grace period means Vocobase never dialed, and the contact gets a fresh attempt (``lost``).
- every attempt still open ``expire_after_seconds`` past its deadline (the agent's maximum
  call duration plus the slot margin) is closed as ``expired`` with the reason, whatever
  its state: no attempt stays open forever.

When the budget runs out halfway through the pages, what was read still settles the
attempts it fully covers; the rest wait for the next tick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from campaign_engine.campaigns.outcome_classes import is_final_call_status
from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.dialer.attempts import give_attempt_back, mark_started
from campaign_engine.dialer.call_listing import (
    CLOCK_SKEW,
    PAGE,
    Listing,
    by_id,
    match_unknown,
    partial_listing,
    report_from_call,
)
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.limits.backpressure import after_refusals, current_poll_plan
from campaign_engine.limits.limiter import lease_name
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.outcomes.record import Recorded, expire_attempt, record_outcome
from campaign_engine.runtime import Runtime
from campaign_engine.states import AttemptState, InboxStatus, sources_of, state_values
from campaign_engine.vocobase.errors import NotFound, RateLimited, VocobaseError
from campaign_engine.vocobase.schemas import Call, CallDetail
from campaign_engine.webhooks.apply import process_event, waiting_events

log = logging.getLogger(__name__)


_NEVER_PLACED = (AttemptState.NOT_SENT.value, AttemptState.LOST.value)


@dataclass
class ReconcileStats:
    polled: int = 0
    recorded: int = 0
    expired: int = 0
    found: int = 0
    lost: int = 0
    orphaned: int = 0


class Reconciler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        settings = runtime.settings
        self.after = timedelta(seconds=settings.scheduler.reconcile_after_seconds)
        self.grace = timedelta(seconds=settings.scheduler.unknown_grace_seconds)
        self.expire_after = timedelta(seconds=settings.scheduler.expire_after_seconds)
        # The longest a live start request takes: waiting for a free connection and
        # connecting (each up to the connect timeout), then the answer.
        vocobase = settings.vocobase
        self.request_time = timedelta(
            seconds=vocobase.timeout_seconds + 2 * vocobase.connect_timeout_seconds
        )

    async def run_once(self) -> ReconcileStats:
        stats = ReconcileStats()
        await self._orphaned_dialing(stats)
        await self._expire_overdue(stats)
        started = await self._overdue_started()
        unknown = await self._unknown()
        if not started and not unknown:
            return stats
        oldest = min(attempt.claimed_at for attempt in [*started, *unknown])
        since = await self._calls_claimed_since(oldest - CLOCK_SKEW) if started else 0
        if started and by_id(len(started), len(unknown), since):
            for attempt in started:
                if not await self._token():
                    break
                await self._poll_one(attempt, stats)
            started = []
            if not unknown:
                return stats
            oldest = min(attempt.claimed_at for attempt in unknown)
        listing = await self._recent_calls(oldest - CLOCK_SKEW, stats)
        if listing is None:
            return stats
        await self._settle_started(started, listing, stats)
        await self._settle_unknown(unknown, listing, stats)
        return stats

    async def _calls_claimed_since(self, moment: datetime) -> int:
        """Our attempts claimed since ``moment``: about how many calls a listing back to it
        would have to read (other users of the account make it more, never fewer)."""
        async with self.runtime.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(CallAttempt)
                    .where(
                        CallAttempt.claimed_at >= moment,
                        CallAttempt.state.not_in(_NEVER_PLACED),
                    )
                )
                or 0
            )

    async def _token(self) -> bool:
        grant = await self.runtime.limiter.acquire(await current_poll_plan(self.runtime))
        return grant.granted

    async def _refused(self, what: str, exc: VocobaseError) -> None:
        log.warning("%s failed: %s", what, exc)
        if isinstance(exc, RateLimited):
            await after_refusals(self.runtime, [exc])

    async def _release(self, recorded: Recorded | None) -> None:
        if recorded is not None and recorded.applied:
            await self.runtime.limiter.release(recorded.slot_names, recorded.lease)

    async def _orphaned_dialing(self, stats: ReconcileStats) -> None:
        """Attempts left ``dialing`` by a worker that died mid-request become ``unknown``,
        and hold their slots until their deadline: the call may exist, and the short lease
        taken for the start request has run out."""
        cutoff = utcnow() - self.request_time - timedelta(seconds=5)
        error = "worker stopped during the start request"
        async with self.runtime.sessions() as session, session.begin():
            orphans = (
                await session.scalars(
                    update(CallAttempt)
                    .where(
                        CallAttempt.state.in_(state_values(sources_of(AttemptState.UNKNOWN))),
                        CallAttempt.claimed_at <= cutoff,
                    )
                    .values(
                        state=AttemptState.UNKNOWN.value,
                        error=error,
                        failure_kind=FailureKind.UNKNOWN.value,
                    )
                    .returning(CallAttempt)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            detail = f"{error}; the call may exist, the reconciler will look it up"
            state_log.note(session, [_change(attempt, "unknown", detail) for attempt in orphans])
        for attempt in orphans:
            await self._hold_until_deadline(attempt)
        stats.orphaned += len(orphans)

    async def _hold_until_deadline(self, attempt: CallAttempt) -> None:
        left_ms = int((attempt.deadline_at - utcnow()).total_seconds() * 1000)
        await self.runtime.limiter.hold(
            slot_names_for(attempt.provider, attempt.campaign_id),
            lease_name(attempt.contact_id, attempt.attempt_number),
            max(left_ms, 1000),
        )

    async def _expire_overdue(self, stats: ReconcileStats) -> None:
        """Close every attempt still open past its deadline plus ``expire_after``."""
        now = utcnow()
        async with self.runtime.sessions() as session:
            overdue = (
                await session.execute(
                    select(CallAttempt.id, CallAttempt.state, CallAttempt.deadline_at)
                    .where(
                        CallAttempt.state.in_(state_values(sources_of(AttemptState.EXPIRED))),
                        CallAttempt.deadline_at <= now - self.expire_after,
                    )
                    .order_by(CallAttempt.deadline_at)
                    .limit(PAGE)
                )
            ).all()
        for row in overdue:
            reason = (
                f"no outcome by the deadline: still {row.state} "
                f"{self.expire_after.total_seconds():.0f}s after it "
                "(no webhook, and GET /calls did not settle it)"
            )
            async with self.runtime.sessions() as session, session.begin():
                recorded = await expire_attempt(session, row.id, reason)
            stats.expired += int(recorded.applied)
            await self._release(recorded)

    async def _overdue_started(self) -> list[CallAttempt]:
        """Started attempts silent for ``reconcile_after`` (and not polled that recently)."""
        now = utcnow()
        async with self.runtime.sessions() as session:
            found = await session.scalars(
                select(CallAttempt)
                .where(
                    CallAttempt.state == AttemptState.STARTED.value,
                    CallAttempt.claimed_at <= now - self.after,
                    (CallAttempt.polled_at.is_(None)) | (CallAttempt.polled_at <= now - self.after),
                )
                # Calls certainly over (past their deadline) first, then the least recently
                # looked at: under a tight budget, none of them expires unasked.
                .order_by(
                    CallAttempt.deadline_at > now,
                    CallAttempt.polled_at.is_not(None),
                    CallAttempt.polled_at,
                )
                .limit(PAGE)
            )
            return list(found.all())

    async def _unknown(self) -> list[CallAttempt]:
        async with self.runtime.sessions() as session:
            found = await session.scalars(
                select(CallAttempt)
                .where(CallAttempt.state == AttemptState.UNKNOWN.value)
                .order_by(CallAttempt.claimed_at)
                .limit(PAGE)
            )
            return list(found.all())

    async def _poll_one(self, attempt: CallAttempt, stats: ReconcileStats) -> None:
        stats.polled += 1
        try:
            call: CallDetail | None = await self.runtime.vocobase.get_call(attempt.call_id or "")
        except NotFound:
            call = None
        except VocobaseError as exc:
            await self._refused(f"polling attempt {attempt.id}", exc)
            return
        await self._settle(attempt, call, stats)

    async def _settle(
        self, attempt: CallAttempt, call: Call | CallDetail | None, stats: ReconcileStats
    ) -> None:
        """Record a final call; otherwise note that the attempt was looked at."""
        if call is None or not is_final_call_status(call.status):
            await self._mark_polled(attempt.id)
            return
        if await self._apply_waiting_webhook(attempt.call_id, attempt.session_id):
            stats.recorded += 1
            return
        async with self.runtime.sessions() as session, session.begin():
            recorded = await record_outcome(session, attempt.id, report_from_call(call))
        stats.recorded += int(recorded.applied)
        await self._release(recorded)

    async def _mark_polled(self, attempt_id: int) -> None:
        async with self.runtime.sessions() as session, session.begin():
            await session.execute(
                update(CallAttempt).where(CallAttempt.id == attempt_id).values(polled_at=utcnow())
            )

    async def _apply_waiting_webhook(self, call_id: str | None, session_id: str | None) -> bool:
        """Apply a webhook that arrived before its attempt had ids; True if one applied."""
        async with self.runtime.sessions() as session:
            waiting = await waiting_events(session, call_id=call_id, session_id=session_id)
        statuses = [await process_event(self.runtime, event_id) for event_id in waiting]
        return InboxStatus.APPLIED in statuses

    async def _recent_calls(self, oldest: datetime, stats: ReconcileStats) -> Listing | None:
        """Calls created since ``oldest``, newest first; None when not one page was read."""
        calls: list[Call] = []
        offset = 0
        while True:
            if not await self._token():
                return partial_listing(calls)
            stats.polled += 1
            try:
                page = await self.runtime.vocobase.list_calls(limit=PAGE, offset=offset)
            except VocobaseError as exc:
                await self._refused("listing calls", exc)
                return partial_listing(calls)
            calls.extend(page.calls)
            offset += len(page.calls)
            oldest_seen = page.calls[-1].created_at if page.calls else None
            if not page.calls or offset >= page.total or (oldest_seen and oldest_seen < oldest):
                return Listing(calls, None)

    async def _settle_started(
        self, started: list[CallAttempt], listing: Listing, stats: ReconcileStats
    ) -> None:
        by_id = {call.call_id: call for call in listing.calls}
        for attempt in started:
            call = by_id.get(attempt.call_id or "")
            if call is None and not listing.covers(attempt.claimed_at):
                continue  # not reached this time; the next tick reads further
            await self._settle(attempt, call, stats)

    async def _settle_unknown(
        self, unknown: list[CallAttempt], listing: Listing, stats: ReconcileStats
    ) -> None:
        async with self.runtime.sessions() as session:
            stored = await session.scalars(
                select(CallAttempt.call_id).where(
                    CallAttempt.call_id.in_([c.call_id for c in listing.calls])
                )
            )
            known = {call_id for call_id in stored.all() if call_id is not None}
        for attempt in unknown:
            match = match_unknown(attempt, listing.calls, known)
            if match is not None:
                known.add(match.call_id)
                await self._found(attempt, match, stats)
            elif listing.covers(attempt.claimed_at) and attempt.claimed_at <= utcnow() - self.grace:
                await self._lost(attempt, stats)

    async def _found(self, attempt: CallAttempt, call: Call, stats: ReconcileStats) -> None:
        stats.found += 1
        async with self.runtime.sessions() as session, session.begin():
            if await mark_started(
                session, attempt.id, call_id=call.call_id, session_id=call.session_id
            ):
                detail = f"call {call.call_id}, found by the reconciler in GET /calls"
                state_log.note(session, [_change(attempt, "started", detail)])
        if not is_final_call_status(call.status):
            await self._hold_until_deadline(attempt)  # live: it occupies its slots
            return
        if await self._apply_waiting_webhook(call.call_id, call.session_id):
            return
        async with self.runtime.sessions() as session, session.begin():
            recorded = await record_outcome(session, attempt.id, report_from_call(call))
        await self._release(recorded)

    async def _lost(self, attempt: CallAttempt, stats: ReconcileStats) -> None:
        """Vocobase has no call for this attempt: it never dialed, so the contact may be."""
        async with self.runtime.sessions() as session, session.begin():
            moved = await session.execute(
                update(CallAttempt)
                .where(
                    CallAttempt.id == attempt.id,
                    CallAttempt.state.in_(state_values(sources_of(AttemptState.LOST))),
                )
                .values(state=AttemptState.LOST.value, ended_at=utcnow())
            )
            if not getattr(moved, "rowcount", 0):
                return
            error = "start request failed and Vocobase has no such call"
            await give_attempt_back(
                session, attempt.contact_id, error=error, delay_seconds=0, kind=FailureKind.LOST
            )
            detail = f"{error}; the contact may be dialed again"
            state_log.note(session, [_change(attempt, "lost", detail)])
        stats.lost += 1
        await self.runtime.limiter.release(
            slot_names_for(attempt.provider, attempt.campaign_id),
            lease_name(attempt.contact_id, attempt.attempt_number),
        )


def _change(attempt: CallAttempt, state: str, detail: str) -> Change:
    return Change("attempt", state, attempt.campaign_id, attempt.contact_id, attempt.id, detail)
