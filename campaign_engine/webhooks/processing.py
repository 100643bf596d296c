"""Turn stored webhook events into recorded outcomes, idempotently.

An event is matched to its attempt by call_id, then session_id, then the engine's attempt
id echoed back in ``variables``. An event whose attempt is not known yet (it beat the start
response) stays ``unmatched``; the worker retries the match as soon as it stores the ids,
and the scheduler sweeps whatever is left, so no event is lost.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from pydantic import ValidationError
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import CallAttempt, WebhookEvent, utcnow
from campaign_engine.dialer.outcome import CallReport, Recorded, record_outcome
from campaign_engine.vocobase.models import SessionCompletedEvent
from campaign_engine.webhooks import inbox

if TYPE_CHECKING:
    from campaign_engine.runtime import Runtime

log = logging.getLogger(__name__)


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
) -> int | None:
    call_id = event.data.call.call_id if event.data.call else None
    conditions = [CallAttempt.session_id == event.data.session_id]
    if call_id:
        conditions.append(CallAttempt.call_id == call_id)
    found = await session.scalar(select(CallAttempt.id).where(or_(*conditions)).limit(1))
    if found is not None:
        return found
    echoed = event.data.variables.get(correlation_variable)
    if isinstance(echoed, str | int) and str(echoed).isdigit():
        attempt = await session.get(CallAttempt, int(echoed))
        # Trust the echo only when it agrees with what we dialed.
        if attempt is not None and (
            event.data.call is None or event.data.call.to_number in (None, attempt.to_number)
        ):
            return attempt.id
    return None


async def process_event(runtime: Runtime, event_id: int) -> str:
    """Apply one stored event; returns its new status."""
    recorded: Recorded | None = None
    async with runtime.sessions() as session, session.begin():
        row = await session.get(WebhookEvent, event_id, with_for_update=True)
        if row is None or row.status not in (inbox.RECEIVED, inbox.UNMATCHED):
            return row.status if row else "missing"
        try:
            event = SessionCompletedEvent.model_validate_json(row.raw_body)
        except ValidationError as exc:
            row.status, row.error, row.processed_at = inbox.INVALID, str(exc)[:500], utcnow()
            return row.status
        attempt_id = await find_attempt(
            session, event, runtime.settings.dialer.correlation_variable
        )
        if attempt_id is None:
            row.status = inbox.UNMATCHED
            return row.status
        recorded = await record_outcome(session, attempt_id, report_from_event(event))
        if recorded.applied:
            row.attempt_id, row.status, row.processed_at = attempt_id, inbox.APPLIED, utcnow()
        else:
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
        status = row.status
    if recorded is not None and recorded.applied:
        await runtime.limiter.release(recorded.slot_names, recorded.lease)
    return status


async def apply_waiting_events(
    runtime: Runtime, *, call_id: str | None, session_id: str | None
) -> None:
    """After the start response is stored, apply any event that arrived before it."""
    conditions = []
    if call_id:
        conditions.append(WebhookEvent.call_id == call_id)
    if session_id:
        conditions.append(WebhookEvent.session_id == session_id)
    if not conditions:
        return
    async with runtime.sessions() as session:
        waiting = (
            await session.scalars(
                select(WebhookEvent.id).where(
                    or_(*conditions),
                    WebhookEvent.status.in_([inbox.RECEIVED, inbox.UNMATCHED]),
                )
            )
        ).all()
    for event_id in waiting:
        await process_event(runtime, event_id)


async def sweep(runtime: Runtime, *, older_than_seconds: float, limit: int = 200) -> int:
    """Process events left behind (server crashed, or unmatched until now); how many moved."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    async with runtime.sessions() as session:
        pending = (
            await session.scalars(
                select(WebhookEvent.id)
                .where(
                    WebhookEvent.status.in_([inbox.RECEIVED, inbox.UNMATCHED]),
                    WebhookEvent.received_at <= cutoff,
                )
                .order_by(WebhookEvent.received_at)
                .limit(limit)
            )
        ).all()
    moved = 0
    for event_id in pending:
        if await process_event(runtime, event_id) not in (inbox.RECEIVED, inbox.UNMATCHED):
            moved += 1
    return moved


async def mark_processed_unmatched_after(runtime: Runtime, *, seconds: float) -> int:
    """Events nobody could match for a long time are set aside with a reason (kept)."""
    cutoff = utcnow() - timedelta(seconds=seconds)
    async with runtime.sessions() as session, session.begin():
        result = await session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.status == inbox.UNMATCHED, WebhookEvent.received_at <= cutoff)
            .values(
                status=inbox.IGNORED,
                processed_at=utcnow(),
                error="no attempt of this engine matches this call",
            )
        )
    return int(getattr(result, "rowcount", 0))
