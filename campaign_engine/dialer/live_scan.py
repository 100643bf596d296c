"""Free the slots of calls that ended before their webhook, within seconds.

The listings of live calls (``GET /calls?status=pending|ringing|in_progress``) are short,
whatever the account's history; read whole, they prove which of our started calls ended
(:mod:`~campaign_engine.dialer.live_calls`). Those become ``processing``: their slots go
back at once and their outcome waits for the webhook
(:mod:`~campaign_engine.outcomes.call_ended`). A start of unknown fate whose call is among
the live ones is found: it is started and holds its slots again. Every call of ours in a
listing also teaches the offset between Vocobase's clock and ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select

from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.dialer.attempts import mark_started
from campaign_engine.dialer.call_listing import PAGE, match_unknown, offset_samples
from campaign_engine.dialer.clock_offset import OffsetBounds, learn_offset
from campaign_engine.dialer.live_calls import (
    LIVE_STATUSES,
    StatusListing,
    ended_calls,
    listing_of,
    read_whole,
)
from campaign_engine.dialer.poll_budget import PollBudget
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.limits.limiter import lease_name
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.outcomes.call_ended import CallEnded
from campaign_engine.runtime import Runtime
from campaign_engine.states import AttemptState, InboxStatus
from campaign_engine.vocobase.schemas import Call, CallList
from campaign_engine.webhooks.apply import process_events, waiting_events

# A live status with more calls than this is not read whole (per-call polls take over).
MAX_LIVE_PAGES = 3


@dataclass
class AccountSize:
    """How many calls the account's listing held when last read: while they fit in one page,
    one unfiltered ``GET /calls`` shows every call's status at once (one request instead of
    three). Accounts only grow: once past a page, the live listings are read instead."""

    total: int | None = None

    @property
    def fits_a_page(self) -> bool:
        return self.total is None or self.total <= PAGE


@dataclass
class LiveScan:
    ended: int = 0
    found: int = 0
    requests: int = 0
    offset: OffsetBounds | None = None
    proved: bool = False
    calls: list[Call] = field(default_factory=list)


async def scan_live(
    runtime: Runtime, budget: PollBudget, wait: timedelta, size: AccountSize | None = None
) -> LiveScan:
    """Read the live listings once; settle what they prove."""
    size = size or AccountSize()
    scan = LiveScan()
    async with runtime.sessions() as session:
        open_attempts = list(
            (
                await session.scalars(
                    select(CallAttempt).where(
                        CallAttempt.state.in_(
                            [AttemptState.STARTED.value, AttemptState.UNKNOWN.value]
                        )
                    )
                )
            ).all()
        )
    if not open_attempts:
        return scan
    began = utcnow()
    listings = await _read_account(budget, scan, size) if size.fits_a_page else []
    if listings is None:
        return scan  # cut short: proves nothing
    for status in [] if listings else LIVE_STATUSES:
        pages = await _read_status(budget, status, scan)
        if pages is None:
            return scan  # cut short: proves nothing
        listings.append(listing_of(status, pages))
        scan.calls += [call for page in pages for call in page.calls]
    ours = {a.call_id: a for a in open_attempts if a.call_id}
    scan.offset = learn_offset(offset_samples(scan.calls, ours))
    known_before = {
        a.id: a.call_id
        for a in open_attempts
        if a.state == AttemptState.STARTED and a.call_id and a.started_at and a.started_at < began
    }
    scan.proved = all(listing.whole for listing in listings)
    listed = {call.call_id: call for call in scan.calls}
    gone = ended_calls(known_before, listings)
    if gone:
        ended = [_ended(aid, listed.get(known_before[aid])) for aid in gone]
        scan.ended = await budget.end_calls(ended, wait)
    unknown = [a for a in open_attempts if a.state == AttemptState.UNKNOWN]
    await _find_live_unknown(runtime, budget, unknown, scan, set(ours), wait)
    if scan.proved:
        await _free_slots_of_calls_not_live(runtime, budget, unknown, scan, began)
    return scan


async def _free_slots_of_calls_not_live(
    runtime: Runtime,
    budget: PollBudget,
    unknown: list[CallAttempt],
    scan: LiveScan,
    began: datetime,
) -> None:
    """An unknown start with no live call (whole listings, long after its request could
    have placed one) occupies no slot, whatever its fate: its slots go back now. The
    contact still waits for the evidence that settles it; a call found live later takes
    its slots again."""
    request_time = timedelta(seconds=runtime.settings.vocobase.longest_request_seconds)
    idle = [
        a
        for a in unknown
        if a.claimed_at <= began - request_time
        and match_unknown(a, scan.calls, set(), scan.offset) is None
    ]
    await budget.release(
        [
            (slot_names_for(a.provider, a.campaign_id), lease_name(a.contact_id, a.attempt_number))
            for a in idle
        ]
    )


def _ended(attempt_id: int, call: Call | None) -> CallEnded:
    """An ended call as the listings show it: with its final status when an unfiltered
    listing held it, else only "not among the live calls"."""
    if call is None or not call.is_final:
        return CallEnded(attempt_id, how="not among the live calls")
    return CallEnded(attempt_id, call.status, call.ended_at, call.duration_seconds, "GET /calls")


async def _read_account(
    budget: PollBudget, scan: LiveScan, size: AccountSize
) -> list[StatusListing] | None:
    """Every call of the account in one page, as the live listings it holds; [] when they
    do not fit in one (read the live listings instead); None when nothing could be read."""
    pages, requests = await budget.read_listing(status=None, max_pages=1)
    scan.requests += requests
    if pages is None:
        return None
    size.total = pages[0].total
    if not read_whole(pages):
        return []
    scan.calls = list(pages[0].calls)
    return [
        StatusListing(
            status,
            frozenset(call.call_id for call in scan.calls if call.status.lower() == status),
            whole=True,
        )
        for status in LIVE_STATUSES
    ]


async def _read_status(budget: PollBudget, status: str, scan: LiveScan) -> list[CallList] | None:
    pages, requests = await budget.read_listing(status=status, max_pages=MAX_LIVE_PAGES)
    scan.requests += requests
    return pages


async def _find_live_unknown(
    runtime: Runtime,
    budget: PollBudget,
    unknown: list[CallAttempt],
    scan: LiveScan,
    taken: set[str],
    wait: timedelta,
) -> None:
    for attempt in sorted(unknown, key=lambda a: a.claimed_at):
        match = match_unknown(attempt, scan.calls, taken, scan.offset)
        if match is None:
            continue
        taken.add(match.call_id)
        scan.found += 1
        await settle_found(runtime, budget, attempt, match, wait)


async def settle_found(
    runtime: Runtime, budget: PollBudget, attempt: CallAttempt, call: Call, wait: timedelta
) -> None:
    """An unknown start's call is found: started, then — unless the webhook that waited for
    it gave its outcome — over (``processing``, slots freed) or live (slots held)."""
    if await found_started(runtime, attempt, call, utcnow()):
        return
    if call.is_final:
        await budget.end_calls(
            [CallEnded(attempt.id, call.status, call.ended_at, how="GET /calls")], wait
        )
    else:
        await budget.hold_live(attempt)


async def found_started(runtime: Runtime, attempt: CallAttempt, call: Call, now: datetime) -> bool:
    """An unknown start's call exists: the attempt is started (the contact in its call), and
    a webhook that came for it before its ids were known is applied now. Whether one was
    (the attempt then has its outcome)."""
    async with runtime.sessions() as session, session.begin():
        moved = await mark_started(
            session, attempt.id, call_id=call.call_id, session_id=call.session_id
        )
        if moved:
            detail = f"call {call.call_id}, found by the reconciler in GET /calls"
            change = Change(
                "attempt", "started", attempt.campaign_id, attempt.contact_id, attempt.id, detail
            )
            state_log.note(session, [change])
        waiting = await waiting_events(session, call_id=call.call_id, session_id=call.session_id)
    statuses = await process_events(runtime, waiting) if waiting else []
    return InboxStatus.APPLIED in statuses
