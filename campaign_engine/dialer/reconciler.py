"""Learn what Vocobase never sent us, within the reconciler's share of the ``/calls/*``
budget (taken from the same shared limiter as dialing, so dialing is never starved). Each
tick, in order:

- ``dialing`` attempts older than a request could take: their worker died mid-request, so
  they become ``unknown`` and hold their slots (the call may exist).
- every attempt still open ``expire_after_seconds`` past its deadline is closed ``expired``
  with the reason: no attempt stays open forever.
- the live listings (:mod:`~campaign_engine.dialer.live_scan`), at most every
  ``live_scan_seconds``: calls of ours no longer live give their slots back at once and
  become ``processing``; unknown starts found live hold their slots again.
- ``processing`` attempts whose webhook is overdue: ``GET /calls/{id}``. While post-call
  processing is not complete (bounded by ``outcome_wait_max_seconds``) they wait on; once it
  is, and the webhook has had time to come, the outcome is decided from the poll and marked
  so (``outcome_source = "poll"``). A webhook that comes later still enriches it.
- started attempts the live listings could not settle (a live status too long to read
  whole), ``reconcile_after_seconds`` after their claim: ``GET /calls/{id}``, least recently
  asked first; one found over becomes ``processing``.
- unknown starts (:mod:`~campaign_engine.dialer.unknown_starts`): found, or lost only when a
  complete listing proves it.

Whatever the order of ``GET /calls`` and however far Vocobase's clock is from ours: no
conclusion rests on either.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from campaign_engine.campaigns.outcome_classes import settled_by_status
from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.dialer.call_listing import PAGE, report_from_call
from campaign_engine.dialer.live_scan import AccountSize, scan_live
from campaign_engine.dialer.poll_budget import PollBudget
from campaign_engine.dialer.unknown_starts import settle_unknown
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.outcomes.call_ended import CallEnded, postpone_outcome
from campaign_engine.outcomes.record import POLL, CallReport, expire_attempt, record_outcome
from campaign_engine.runtime import Runtime
from campaign_engine.states import AttemptState, sources_of, state_values
from campaign_engine.vocobase.errors import NotFound, VocobaseError
from campaign_engine.vocobase.schemas import CallDetail

log = logging.getLogger(__name__)


@dataclass
class ReconcileStats:
    polled: int = 0
    recorded: int = 0
    expired: int = 0
    found: int = 0
    lost: int = 0
    orphaned: int = 0
    ended: int = 0


class Reconciler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.budget = PollBudget(runtime)
        scheduler = runtime.settings.scheduler
        self.after = timedelta(seconds=scheduler.reconcile_after_seconds)
        self.grace = timedelta(seconds=scheduler.unknown_grace_seconds)
        self.expire_after = timedelta(seconds=scheduler.expire_after_seconds)
        self.wait = timedelta(seconds=scheduler.outcome_wait_seconds)
        self.wait_max = timedelta(seconds=scheduler.outcome_wait_max_seconds)
        self.webhook_grace = timedelta(seconds=scheduler.webhook_grace_seconds)
        self.scan_every = scheduler.live_scan_seconds
        self._scanned_at = float("-inf")
        self._account = AccountSize()
        self.request_time = timedelta(seconds=runtime.settings.vocobase.longest_request_seconds)

    async def run_once(self) -> ReconcileStats:
        stats = ReconcileStats()
        await self._orphaned_dialing(stats)
        await self._expire_overdue(stats)
        proved = False
        if time.monotonic() - self._scanned_at >= self.scan_every:
            self._scanned_at = time.monotonic()
            scan = await scan_live(self.runtime, self.budget, self.wait, self._account)
            stats.polled += scan.requests
            stats.ended += scan.ended
            stats.found += scan.found
            proved = scan.proved
        await self._decide_overdue_outcomes(stats)
        if not proved:
            await self._poll_overdue_started(stats)
        settled = await settle_unknown(self.runtime, self.budget, grace=self.grace, wait=self.wait)
        stats.polled += settled.requests
        stats.found += settled.found
        stats.lost += settled.lost
        return stats

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
            await self.budget.hold_live(attempt)
        stats.orphaned += len(orphans)

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
            if recorded.applied:
                await self.budget.release([(recorded.slot_names, recorded.lease)])

    async def _decide_overdue_outcomes(self, stats: ReconcileStats) -> None:
        """``processing`` attempts whose webhook has not come by ``outcome_due_at``."""
        now = utcnow()
        async with self.runtime.sessions() as session:
            due = (
                await session.scalars(
                    select(CallAttempt)
                    .where(
                        CallAttempt.state == AttemptState.PROCESSING.value,
                        CallAttempt.outcome_due_at <= now,
                    )
                    .order_by(CallAttempt.outcome_due_at)
                    .limit(PAGE)
                )
            ).all()
        for attempt in due:
            if settled_by_status(attempt.call_status):  # no webhook can refine it
                await self._record(attempt, _as_polled(attempt), stats)
                continue
            if not await self.budget.token():
                return
            stats.polled += 1
            ok, detail = await self._detail(attempt)
            if not ok:
                return
            await self._decide_or_wait(attempt, detail, stats)

    async def _detail(self, attempt: CallAttempt) -> tuple[bool, CallDetail | None]:
        """``GET /calls/{id}``: (answered, the call or None when Vocobase has none)."""
        try:
            return True, await self.runtime.vocobase.get_call(attempt.call_id or "")
        except NotFound:
            return True, None
        except VocobaseError as exc:
            await self.budget.refused(f"polling attempt {attempt.id}", exc)
            return False, None

    async def _decide_or_wait(
        self, attempt: CallAttempt, call: CallDetail | None, stats: ReconcileStats
    ) -> None:
        now = utcnow()
        decide_at = _decide_at(call, attempt, now, self.wait_max, self.webhook_grace)
        if decide_at > now:  # ask again then (or when the wait again ends, if sooner)
            until = min(decide_at, now + max(self.wait, self.webhook_grace))
            async with self.runtime.sessions() as session, session.begin():
                await postpone_outcome(session, attempt.id, now=now, until=until)
            return
        report = report_from_call(call) if call else _as_polled(attempt)
        await self._record(attempt, report, stats)

    async def _record(
        self, attempt: CallAttempt, report: CallReport, stats: ReconcileStats
    ) -> None:
        async with self.runtime.sessions() as session, session.begin():
            recorded = await record_outcome(session, attempt.id, report)
        stats.recorded += int(recorded.applied)

    async def _poll_overdue_started(self, stats: ReconcileStats) -> None:
        """Started attempts silent for ``reconcile_after``, looked up one by one."""
        for attempt in await self._overdue_started():
            if not await self.budget.token():
                return
            stats.polled += 1
            ok, call = await self._detail(attempt)
            if not ok:
                return
            await self._settle_started(attempt, call, stats)

    async def _overdue_started(self) -> list[CallAttempt]:
        """Started attempts silent for ``reconcile_after`` (and not polled that recently):
        calls certainly over (past their deadline) first, then the least recently looked
        at, so that under a tight budget none expires unasked."""
        now = utcnow()
        async with self.runtime.sessions() as session:
            found = await session.scalars(
                select(CallAttempt)
                .where(
                    CallAttempt.state == AttemptState.STARTED.value,
                    CallAttempt.claimed_at <= now - self.after,
                    CallAttempt.polled_at.is_(None) | (CallAttempt.polled_at <= now - self.after),
                )
                .order_by(
                    CallAttempt.deadline_at > now,
                    CallAttempt.polled_at.is_not(None),
                    CallAttempt.polled_at,
                )
                .limit(PAGE)
            )
            return list(found.all())

    async def _settle_started(
        self, attempt: CallAttempt, call: CallDetail | None, stats: ReconcileStats
    ) -> None:
        now = utcnow()
        if call is None or not call.is_final:
            async with self.runtime.sessions() as session, session.begin():
                await session.execute(
                    update(CallAttempt).where(CallAttempt.id == attempt.id).values(polled_at=now)
                )
            return
        ended = CallEnded(attempt.id, call.status, call.ended_at, call.duration_seconds, "GET")
        stats.ended += await self.budget.end_calls([ended], self.wait)


def _decide_at(
    call: CallDetail | None,
    attempt: CallAttempt,
    now: datetime,
    wait_max: timedelta,
    grace: timedelta,
) -> datetime:
    """When to decide the outcome without the webhook (``now`` or earlier: decide now).

    Not while post-call processing is incomplete (up to ``wait_max`` after the call ended);
    once it is, when the webhook — sent at ``pipeline_completed_at`` and retried for ~7 s —
    has had ``grace``. ``pipeline_completed_at`` is on Vocobase's clock; it is brought to
    ours through the call's end, which both clocks saw: we saw it no earlier than it
    happened, so the moment reckoned is never too early, whatever the offset.
    """
    seen_ended = attempt.ended_at or now
    give_up = seen_ended + wait_max
    if call is None or now >= give_up or settled_by_status(call.status):
        return now
    if call.processing_complete is False:
        return give_up
    completed, their_end = call.pipeline_completed_at, call.ended_at
    if completed is None or their_end is None:
        return now  # nothing to reckon with: the wait so far (outcome_wait) is all
    return min(seen_ended + (completed - their_end) + grace, give_up)


def _as_polled(attempt: CallAttempt) -> CallReport:
    """What polling stored of an ended call, as its report."""
    return CallReport(
        attempt.call_status,
        duration_seconds=attempt.duration_seconds,
        ended_at=attempt.ended_at,
        source=POLL,
    )


def _change(attempt: CallAttempt, state: str, detail: str) -> Change:
    return Change("attempt", state, attempt.campaign_id, attempt.contact_id, attempt.id, detail)
