"""What every reconciliation request shares: the ``/calls/*`` budget, the consequence of a
429, and the concurrency slots it frees or takes again.

Each request takes a token under :func:`~campaign_engine.limits.backpressure.current_poll_plan`
(the reconciler's share of the budget — all of it while the slots are full and no start
could use it). Slots are taken again only for a call still live, and given back at once if
its attempt ended meanwhile (a webhook may end it between the read and the hold).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import select

from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.dialer.call_listing import PAGE
from campaign_engine.limits.backpressure import after_refusals, current_poll_plan
from campaign_engine.limits.limiter import lease_name
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.outcomes.call_ended import CallEnded, Release, mark_calls_ended
from campaign_engine.runtime import Runtime
from campaign_engine.states import ATTEMPT_HOLDING, state_values
from campaign_engine.vocobase.errors import RateLimited, VocobaseError
from campaign_engine.vocobase.schemas import CallList

log = logging.getLogger(__name__)

# The longest one request waits for its token before the reconciler leaves it for a later
# tick (a cooldown after a 429 is longer than this: nothing waits it out here).
MAX_WAIT_SECONDS = 5.0


class PollBudget:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def token(self) -> bool:
        """One request's token, waiting for it when it is due within :data:`MAX_WAIT` (a
        listing reads its pages one after another, spaced by the budget's rate)."""
        waited = 0.0
        while True:
            grant = await self.runtime.limiter.acquire(await current_poll_plan(self.runtime))
            if grant.granted:
                return True
            wait = grant.wait_ms / 1000
            if grant.held_elsewhere or wait <= 0 or waited + wait > MAX_WAIT_SECONDS:
                return False
            await asyncio.sleep(wait)
            waited += wait

    async def refused(self, what: str, exc: VocobaseError) -> None:
        log.warning("%s failed: %s", what, exc)
        if isinstance(exc, RateLimited):
            await after_refusals(self.runtime, [exc])

    async def release(self, released: Sequence[Release]) -> None:
        if released:
            await self.runtime.limiter.release_many(list(released))

    async def end_calls(self, ended: Sequence[CallEnded], wait: timedelta) -> int:
        """Calls polling saw end: ``processing`` until their webhook (or ``wait``), their
        slots given back at once; how many moved."""
        async with self.runtime.sessions() as session, session.begin():
            released = await mark_calls_ended(session, ended, now=utcnow(), wait=wait)
        await self.release(released)
        return len(released)

    async def read_listing(
        self, *, status: str | None, max_pages: int
    ) -> tuple[list[CallList] | None, int]:
        """``GET /calls`` (of one ``status``, or all) page after page within the budget, up
        to ``max_pages`` (no further once its total needs more): (the pages, or None when
        a token or a read failed; the requests made). Whether they hold the whole listing
        is :func:`~campaign_engine.dialer.live_calls.read_whole`'s to say."""
        pages: list[CallList] = []
        while True:
            if not await self.token():
                return None, len(pages)
            try:
                page = await self.runtime.vocobase.list_calls(
                    limit=PAGE, offset=sum(len(p.calls) for p in pages), status=status
                )
            except VocobaseError as exc:
                await self.refused(f"listing {status or 'all'} calls", exc)
                return None, len(pages) + 1
            pages.append(page)
            read = sum(len(p.calls) for p in pages)
            too_many = -(-page.total // PAGE) > max_pages
            if not page.calls or read >= page.total or len(pages) >= max_pages or too_many:
                return pages, len(pages)

    async def hold_live(self, attempt: CallAttempt) -> None:
        """Hold the slots of a call found live until its deadline; give them back at once if
        its attempt stopped holding meanwhile."""
        names = slot_names_for(attempt.provider, attempt.campaign_id)
        lease = lease_name(attempt.contact_id, attempt.attempt_number)
        left_ms = int((attempt.deadline_at - utcnow()).total_seconds() * 1000)
        await self.runtime.limiter.hold(names, lease, max(left_ms, 1000))
        async with self.runtime.sessions() as session:
            state = await session.scalar(
                select(CallAttempt.state).where(CallAttempt.id == attempt.id)
            )
        if state not in state_values(ATTEMPT_HOLDING):
            await self.runtime.limiter.release(names, lease)
