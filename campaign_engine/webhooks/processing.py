"""Turn stored webhook events into recorded outcomes, idempotently.

An event is matched to its attempt by call_id, then session_id, then the engine's attempt
id echoed back in ``variables``. An event whose attempt is not known yet (it beat the start
response) stays ``unmatched``; the worker retries the match as soon as it stores the ids,
and the scheduler sweeps whatever is left, so no event is lost.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.states import ATTEMPT_OPEN
from campaign_engine.db.models import CallAttempt, WebhookEvent, utcnow
from campaign_engine.dialer.outcome import CallReport, Recorded, record_outcome
from campaign_engine.vocobase.models import SessionCompletedEvent
from campaign_engine.webhooks import inbox

if TYPE_CHECKING:
    from campaign_engine.runtime import Runtime

log = logging.getLogger(__name__)

# An unmatched event is tried again at most this often by the sweep.
UNMATCHED_RETRY_SECONDS = 30.0
# Unmatched events are never set aside younger than this.
SET_ASIDE_AFTER_SECONDS = 600.0
# Clock difference allowed between the processes that claim attempts and receive events.
CLAIM_SKEW = timedelta(seconds=60)
SWEEP_BATCH = 50


@dataclass(frozen=True)
class Applied:
    """What processing one event did: its new status, and the outcome it recorded."""

    status: str
    recorded: Recorded | None = None


def report_from_event(event: SessionCompletedEvent) -> CallReport:
    data = event.data
    call = data.call
    return CallReport(
        call_status=call.status if call else None,
        disposition=call.disposition if call else None,
        answered_by=call.answered_by if call else None,
        call_id=call.call_id if call else None,
        session_id=data.session_id,
        duration_seconds=data.duration_seconds,
        credits_used=data.credits_used,
        recording_url=data.recording_url,
        extraction=data.extraction.model_dump() if data.extraction else None,
        transcript=[turn.model_dump() for turn in data.transcript],
        ended_at=None,
    )


async def find_attempt(
    session: AsyncSession, event: SessionCompletedEvent, correlation_variable: str
) -> CallAttempt | None:
    """The attempt this event reports on, by call_id/session_id, else by the echoed id.

    The loaded row is returned (not just its id) and should be held while the outcome is
    recorded: the session's identity map is weak, and holding it saves loading it again.
    """
    call_id = event.data.call.call_id if event.data.call else None
    conditions = [CallAttempt.session_id == event.data.session_id]
    if call_id:
        conditions.append(CallAttempt.call_id == call_id)
    found = await session.scalar(select(CallAttempt).where(or_(*conditions)).limit(1))
    if found is not None:
        return found
    echoed = event.data.variables.get(correlation_variable)
    if isinstance(echoed, str | int) and str(echoed).isdigit():
        attempt = await session.get(CallAttempt, int(echoed))
        # Trust the echo only when it agrees with what we dialed.
        if attempt is not None and (
            event.data.call is None or event.data.call.to_number in (None, attempt.to_number)
        ):
            return attempt
    return None


async def _apply(session: AsyncSession, runtime: Runtime, event_id: int) -> Applied:
    """Apply one stored event inside the caller's transaction."""
    row = await session.get(WebhookEvent, event_id, with_for_update=True)
    if row is None or row.status not in (inbox.RECEIVED, inbox.UNMATCHED):
        return Applied(row.status if row else "missing")
    try:
        event = SessionCompletedEvent.model_validate_json(row.raw_body)
    except ValidationError as exc:
        row.status, row.error, row.processed_at = inbox.INVALID, str(exc)[:500], utcnow()
        return Applied(row.status)
    attempt = await find_attempt(session, event, runtime.settings.dialer.correlation_variable)
    if attempt is None:
        # processed_at is the last try while unmatched: the sweep retries the least recent.
        row.status, row.processed_at = inbox.UNMATCHED, utcnow()
        return Applied(row.status)
    attempt_id = attempt.id
    recorded = await record_outcome(session, attempt_id, report_from_event(event))
    if recorded.applied:
        row.attempt_id, row.status, row.processed_at = attempt_id, inbox.APPLIED, utcnow()
        return Applied(row.status, recorded)
    # SQLite has no row lock: a second processor of this very event (the worker
    # and the receiver race for it) must not overwrite the first one's "applied".
    await session.execute(
        update(WebhookEvent)
        .where(
            WebhookEvent.id == event_id,
            WebhookEvent.status.in_([inbox.RECEIVED, inbox.UNMATCHED]),
        )
        .values(attempt_id=attempt_id, status=inbox.IGNORED, processed_at=utcnow())
    )
    await session.refresh(row)
    return Applied(row.status)


async def _release(runtime: Runtime, applied: list[Applied]) -> None:
    for one in applied:
        if one.recorded is not None and one.recorded.applied:
            await runtime.limiter.release(one.recorded.slot_names, one.recorded.lease)


async def process_event(runtime: Runtime, event_id: int) -> str:
    """Apply one stored event; returns its new status."""
    async with runtime.sessions() as session, session.begin():
        applied = await _apply(session, runtime, event_id)
    await _release(runtime, [applied])
    return applied.status


async def process_events(runtime: Runtime, event_ids: list[int]) -> list[str]:
    """Apply several stored events in one transaction (one commit for all: far cheaper per
    event under load); if that fails, each is applied on its own so one bad event cannot
    hold the others back. Returns their statuses, in order."""
    if len(event_ids) <= 1:
        return [await process_event(runtime, event_id) for event_id in event_ids]
    try:
        async with runtime.sessions() as session, session.begin():
            applied = [await _apply(session, runtime, event_id) for event_id in event_ids]
    except Exception:
        log.warning("applying %d events together failed; one by one", len(event_ids))
        return [await process_event(runtime, event_id) for event_id in event_ids]
    await _release(runtime, applied)
    return [one.status for one in applied]


async def waiting_events(
    session: AsyncSession, *, call_id: str | None, session_id: str | None
) -> list[int]:
    """Events for this call still waiting to be applied (they beat the start response)."""
    conditions = []
    if call_id:
        conditions.append(WebhookEvent.call_id == call_id)
    if session_id:
        conditions.append(WebhookEvent.session_id == session_id)
    if not conditions:
        return []
    found = await session.scalars(
        select(WebhookEvent.id).where(
            or_(*conditions),
            WebhookEvent.status.in_([inbox.RECEIVED, inbox.UNMATCHED]),
        )
    )
    return list(found.all())


async def apply_waiting_events(
    runtime: Runtime, *, call_id: str | None, session_id: str | None
) -> None:
    """After the start response is stored, apply any event that arrived before it."""
    async with runtime.sessions() as session:
        waiting = await waiting_events(session, call_id=call_id, session_id=session_id)
    for event_id in waiting:
        await process_event(runtime, event_id)


async def sweep(runtime: Runtime, *, older_than_seconds: float, limit: int = 200) -> int:
    """Process events left behind; how many moved on.

    ``received`` events older than ``older_than_seconds`` (their processor crashed or
    dropped them) come first. ``unmatched`` ones are tried again least-recently-tried
    first and at most every :data:`UNMATCHED_RETRY_SECONDS`, so a pile of events no
    attempt will ever match cannot starve newer ones; those that cannot match any more
    are set aside (see :func:`set_aside_unmatchable`).
    """
    now = utcnow()
    await set_aside_unmatchable(runtime, now=now)
    async with runtime.sessions() as session:
        received = await session.scalars(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.status == inbox.RECEIVED,
                WebhookEvent.received_at <= now - timedelta(seconds=older_than_seconds),
            )
            .order_by(WebhookEvent.id)
            .limit(limit)
        )
        pending = list(received.all())
        unmatched = await session.scalars(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.status == inbox.UNMATCHED,
                or_(
                    WebhookEvent.processed_at.is_(None),
                    WebhookEvent.processed_at <= now - timedelta(seconds=UNMATCHED_RETRY_SECONDS),
                ),
            )
            .order_by(WebhookEvent.processed_at.is_not(None), WebhookEvent.processed_at)
            .limit(max(limit - len(pending), 0))
        )
        pending += unmatched.all()
    moved = 0
    for start in range(0, len(pending), SWEEP_BATCH):
        statuses = await process_events(runtime, pending[start : start + SWEEP_BATCH])
        moved += sum(status not in (inbox.RECEIVED, inbox.UNMATCHED) for status in statuses)
    return moved


async def set_aside_unmatchable(runtime: Runtime, *, now: datetime | None = None) -> int:
    """Set aside (``ignored``, with the reason; kept) unmatched events no attempt can match.

    Only an open attempt without call ids (its start response never came) can still be
    matched later, and only to an event that arrived after it was claimed. So an event
    that arrived before the oldest such attempt was claimed (or when there is none) will
    never match: it belongs to another system on the same Vocobase account, or its
    attempt was closed meanwhile. A grace period covers a start response being stored
    right now.
    """
    now = now or utcnow()
    async with runtime.sessions() as session, session.begin():
        oldest = await session.scalar(
            select(func.min(CallAttempt.claimed_at)).where(
                CallAttempt.state.in_([state.value for state in ATTEMPT_OPEN]),
                CallAttempt.call_id.is_(None),
            )
        )
        conditions = [
            WebhookEvent.status == inbox.UNMATCHED,
            WebhookEvent.received_at <= now - timedelta(seconds=SET_ASIDE_AFTER_SECONDS),
        ]
        if oldest is not None:
            conditions.append(WebhookEvent.received_at < oldest - CLAIM_SKEW)
        result = await session.execute(
            update(WebhookEvent)
            .where(*conditions)
            .values(
                status=inbox.IGNORED,
                processed_at=now,
                error="no attempt of this engine matches this call",
            )
        )
    return int(getattr(result, "rowcount", 0))
