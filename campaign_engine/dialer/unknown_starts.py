"""Settle starts whose fate was unknown, by evidence only.

A start that timed out may or may not have placed a call. Its call is looked for in
``GET /calls`` — the whole listing, since its order is not documented — to a matching
number, created after the claim on Vocobase's clock (offset learned from our own calls).
Found: the attempt is started (and, if the call is already over, ``processing``). Declared
``lost`` — the contact dialed afresh, at no cost to its retry budget — only when the whole
listing was read (every page, the same total throughout, every call once), has no such
call, and the claim is older than the grace period. When the account holds more calls than
:attr:`unknown_listing_pages` pages, or a read is cut short, nothing is concluded: the
contact waits (shown as "start's fate unknown") rather than risk being dialed twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update

from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.dialer.attempts import give_attempt_back
from campaign_engine.dialer.call_listing import PAGE, match_unknown, offset_samples
from campaign_engine.dialer.clock_offset import learn_offset
from campaign_engine.dialer.live_calls import read_whole
from campaign_engine.dialer.live_scan import settle_found
from campaign_engine.dialer.poll_budget import PollBudget
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.limits.limiter import lease_name
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.runtime import Runtime
from campaign_engine.states import AttemptState, sources_of, state_values
from campaign_engine.vocobase.schemas import CallList


@dataclass
class UnknownSettled:
    found: int = 0
    lost: int = 0
    requests: int = 0


async def settle_unknown(
    runtime: Runtime, budget: PollBudget, *, grace: timedelta, wait: timedelta
) -> UnknownSettled:
    settled = UnknownSettled()
    async with runtime.sessions() as session:
        unknown = list(
            (
                await session.scalars(
                    select(CallAttempt)
                    .where(CallAttempt.state == AttemptState.UNKNOWN.value)
                    .order_by(CallAttempt.claimed_at)
                    .limit(PAGE)
                )
            ).all()
        )
    if not unknown:
        return settled
    pages = await _read_all(runtime, budget, settled)
    if pages is None:
        return settled
    calls = [call for page in pages for call in page.calls]
    async with runtime.sessions() as session:
        rows = await session.scalars(
            select(CallAttempt).where(CallAttempt.call_id.in_([c.call_id for c in calls]))
        )
        ours = {attempt.call_id: attempt for attempt in rows.all() if attempt.call_id}
    offset = learn_offset(offset_samples(calls, ours))
    taken = set(ours)
    whole = read_whole(pages)
    now = utcnow()
    for attempt in unknown:
        match = match_unknown(attempt, calls, taken, offset)
        if match is not None:
            taken.add(match.call_id)
            settled.found += 1
            await settle_found(runtime, budget, attempt, match, wait)
        elif whole and attempt.claimed_at <= now - grace:
            settled.lost += await _lost(runtime, attempt)
    return settled


async def _read_all(
    runtime: Runtime, budget: PollBudget, settled: UnknownSettled
) -> list[CallList] | None:
    """The pages of ``GET /calls`` read within the budget (never more than allowed), or None
    when a token or a read failed. Any call in them may be found; only a whole listing
    proves a start lost."""
    pages, settled.requests = await budget.read_listing(
        status=None, max_pages=runtime.settings.scheduler.unknown_listing_pages
    )
    return pages


async def _lost(runtime: Runtime, attempt: CallAttempt) -> int:
    """Vocobase has no call for this attempt: it never dialed, so the contact may be."""
    async with runtime.sessions() as session, session.begin():
        moved = await session.execute(
            update(CallAttempt)
            .where(
                CallAttempt.id == attempt.id,
                CallAttempt.state.in_(state_values(sources_of(AttemptState.LOST))),
            )
            .values(state=AttemptState.LOST.value, ended_at=utcnow())
        )
        if not getattr(moved, "rowcount", 0):
            return 0
        error = "start request failed and a complete GET /calls listing has no such call"
        await give_attempt_back(
            session, attempt.contact_id, error=error, delay_seconds=0, kind=FailureKind.LOST
        )
        change = Change(
            "attempt",
            "lost",
            attempt.campaign_id,
            attempt.contact_id,
            attempt.id,
            f"{error}; the contact may be dialed again",
        )
        state_log.note(session, [change])
    await runtime.limiter.release(
        slot_names_for(attempt.provider, attempt.campaign_id),
        lease_name(attempt.contact_id, attempt.attempt_number),
    )
    return 1
