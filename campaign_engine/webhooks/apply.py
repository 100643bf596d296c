"""Turn stored webhook events into recorded outcomes, idempotently.

An event is matched to its attempt by call_id, then session_id, then the engine's attempt
id echoed back in ``variables``. An event whose attempt is not known yet (it beat the start
response) stays ``unmatched``; the worker retries the match as soon as it stores the ids,
and the scheduler sweeps whatever is left, so no event is lost.

Any number of processes apply the one inbox (every server's processor and catch-up, the
workers, the leading scheduler's sweep), whichever of them stored an event: each batch first
claims its events (:func:`_claim`), so every event is applied by exactly one of them, and
one a process was applying when it died is applied by another (it is still waiting).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from pydantic import ValidationError
from sqlalchemy import Row, Table, bindparam, func, or_, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import CallAttempt, WebhookEvent, utcnow
from campaign_engine.outcomes.late_webhook import enrich_outcomes
from campaign_engine.outcomes.record import CallReport, Recorded, record_outcomes
from campaign_engine.states import ATTEMPT_OPEN, INBOX_ACTIVE, InboxStatus, state_values
from campaign_engine.vocobase.schemas import SessionCompletedEvent
from campaign_engine.webhooks.matching import find_attempts

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


_WAITING = state_values(INBOX_ACTIVE)
_events = cast(Table, WebhookEvent.__table__)
# Only an event still waiting moves: a concurrent processor of the same event (the worker
# and the server race for early ones; SQLite has no row locks) never loses its "applied".
_SET_STATUS = (
    update(_events)
    .where(
        _events.c.id == bindparam("b_id"), or_(*(_events.c.status == status for status in _WAITING))
    )
    .values(
        status=bindparam("b_status"),
        attempt_id=bindparam("b_attempt"),
        error=bindparam("b_error"),
        processed_at=bindparam("b_at"),
    )
)


def _status(
    event_id: int,
    status: str,
    at: datetime,
    attempt_id: int | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    return {
        "b_id": event_id,
        "b_status": status,
        "b_attempt": attempt_id,
        "b_error": error,
        "b_at": at,
    }


async def _apply(
    session: AsyncSession, runtime: Runtime, event_ids: list[int]
) -> dict[int, Applied]:
    """Apply stored events (distinct ids) inside the caller's transaction, in a fixed number
    of statements: read them, match them (:func:`find_attempts`), record the outcomes
    (:func:`record_outcomes`), write their statuses."""
    now = utcnow()
    rows = {row.id: row for row in await _claim(session, event_ids)}
    done: dict[int, Applied] = {}
    writes: list[dict[str, Any]] = []
    parsed: list[tuple[int, SessionCompletedEvent]] = []
    for event_id in event_ids:
        row = rows.get(event_id)
        if row is None:  # applied already, or being applied by another process now
            continue
        try:
            parsed.append((event_id, SessionCompletedEvent.model_validate_json(row.raw_body)))
        except ValidationError as exc:
            writes.append(_status(event_id, InboxStatus.INVALID.value, now, error=str(exc)[:500]))
    matches = await find_attempts(session, parsed, runtime.settings.dialer.correlation_variable)
    # One event per attempt reports; any other one for the same attempt comes too late.
    reports: dict[int, tuple[int, CallReport]] = {}
    for event_id, event in parsed:
        attempt_id = matches.get(event_id)
        if attempt_id is None:
            # processed_at is the last try while unmatched: the sweep retries the least recent.
            writes.append(_status(event_id, InboxStatus.UNMATCHED.value, now))
        elif attempt_id in reports:
            writes.append(_status(event_id, InboxStatus.IGNORED.value, now, attempt_id))
        else:
            reports[attempt_id] = (event_id, report_from_event(event))
    recorded = await record_outcomes(
        session, [(attempt_id, report) for attempt_id, (_, report) in reports.items()]
    )
    late = [one.attempt_id for one in recorded if not one.applied]
    enriched = set(
        await enrich_outcomes(session, [(aid, reports[aid][1]) for aid in late], now)
        if late
        else []
    )
    for one in recorded:
        event_id = reports[one.attempt_id][0]
        if one.applied:
            done[event_id] = Applied(InboxStatus.APPLIED.value, one)
            writes.append(_status(event_id, InboxStatus.APPLIED.value, now, one.attempt_id))
        elif one.attempt_id in enriched:  # decided by a poll before it came: it enriches
            done[event_id] = Applied(InboxStatus.APPLIED.value)
            writes.append(_status(event_id, InboxStatus.APPLIED.value, now, one.attempt_id))
        else:
            writes.append(_status(event_id, InboxStatus.IGNORED.value, now, one.attempt_id))
    if writes:
        await session.execute(_SET_STATUS, sorted(writes, key=lambda write: int(write["b_id"])))
    # What this call did not apply: done, or being done, by another processor (or missing).
    others = [event_id for event_id in event_ids if event_id not in done]
    if others:
        found = await session.execute(
            select(WebhookEvent.id, WebhookEvent.status).where(WebhookEvent.id.in_(others))
        )
        done.update({event_id: Applied(status) for event_id, status in found})
        done.update({event_id: Applied("missing") for event_id in others if event_id not in done})
    return done


async def _claim(session: AsyncSession, event_ids: list[int]) -> Sequence[Row[Any]]:
    """The events among ``event_ids`` still waiting, made this transaction's alone: any
    number of processes (servers, their catch-up, the scheduler's sweep, workers) apply the
    inbox, and each event is applied by exactly one of them. On PostgreSQL the rows are
    locked, and those another transaction holds are skipped (it applies them; if it fails,
    they stay waiting for the next sweep); on SQLite a no-op update takes the single writer
    lock first, so the statuses read are the latest and no other applier runs meanwhile."""
    columns = (WebhookEvent.id, WebhookEvent.status, WebhookEvent.raw_body)
    waiting = (WebhookEvent.id.in_(event_ids), WebhookEvent.status.in_(_WAITING))
    if session.get_bind().dialect.name == "sqlite":
        claim: Any = (
            update(WebhookEvent)
            .where(*waiting)
            .values(status=WebhookEvent.status)
            .returning(*columns)
            .execution_options(synchronize_session=False)
        )
    else:
        claim = (
            select(*columns)
            .where(*waiting)
            .order_by(WebhookEvent.id)
            .with_for_update(skip_locked=True)
        )
    return (await session.execute(claim)).all()


async def _release(runtime: Runtime, applied: Iterable[Applied]) -> None:
    await runtime.limiter.release_many(
        [
            (one.recorded.slot_names, one.recorded.lease)
            for one in applied
            if one.recorded is not None and one.recorded.applied
        ]
    )


async def _process(runtime: Runtime, event_ids: list[int]) -> list[Applied]:
    unique = list(dict.fromkeys(event_ids))
    async with runtime.sessions() as session, session.begin():
        applied = await _apply(session, runtime, unique)
    await _release(runtime, applied.values())
    return [applied[event_id] for event_id in event_ids]


async def process_event(runtime: Runtime, event_id: int) -> str:
    """Apply one stored event; returns its new status."""
    [applied] = await _process(runtime, [event_id])
    return applied.status


async def process_events(runtime: Runtime, event_ids: list[int]) -> list[str]:
    """Apply several stored events in one transaction (a fixed number of statements and one
    commit for all: far cheaper per event under load); if that fails, each is applied on
    its own so one bad event cannot hold the others back. Returns their statuses, in order."""
    try:
        return [applied.status for applied in await _process(runtime, event_ids)]
    except Exception as exc:
        if len(event_ids) > 1:
            log.warning(
                "applying %d events together failed; one by one", len(event_ids), exc_info=True
            )
            return [await _process_or_set_aside(runtime, event_id) for event_id in event_ids]
        if isinstance(exc, _NEVER_APPLICABLE):
            return [await _set_aside(runtime, event_ids[0], exc)]
        raise


# What the database refuses of an event's values however often it is tried (a number out of
# range, text too long for its column). A lost connection or a lock is not among them: that
# event is tried again.
_NEVER_APPLICABLE = (sa_exc.DataError, OverflowError)


async def _process_or_set_aside(runtime: Runtime, event_id: int) -> str:
    """Apply one event; one the database can never take is marked ``invalid`` with the
    reason, kept for inspection, instead of failing every batch it is swept into."""
    try:
        return await process_event(runtime, event_id)
    except _NEVER_APPLICABLE as exc:
        return await _set_aside(runtime, event_id, exc)


async def _set_aside(runtime: Runtime, event_id: int, exc: Exception) -> str:
    reason = f"could not be applied: {str(exc).splitlines()[0][:300]}"
    log.warning("webhook event %s set aside: %s", event_id, reason)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(WebhookEvent)
            .where(WebhookEvent.id == event_id)
            .values(status=InboxStatus.INVALID.value, error=reason, processed_at=utcnow())
        )
    return InboxStatus.INVALID.value


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
            WebhookEvent.status.in_(state_values(INBOX_ACTIVE)),
        )
    )
    return list(found.all())


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
                WebhookEvent.status == InboxStatus.RECEIVED.value,
                WebhookEvent.received_at <= now - timedelta(seconds=older_than_seconds),
            )
            .order_by(WebhookEvent.id)
            .limit(limit)
        )
        pending = list(received.all())
        unmatched = await session.scalars(
            select(WebhookEvent.id)
            .where(
                WebhookEvent.status == InboxStatus.UNMATCHED.value,
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
        moved += sum(status not in INBOX_ACTIVE for status in statuses)
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
            WebhookEvent.status == InboxStatus.UNMATCHED.value,
            WebhookEvent.received_at <= now - timedelta(seconds=SET_ASIDE_AFTER_SECONDS),
        ]
        if oldest is not None:
            conditions.append(WebhookEvent.received_at < oldest - CLAIM_SKEW)
        result = await session.execute(
            update(WebhookEvent)
            .where(*conditions)
            .values(
                status=InboxStatus.IGNORED.value,
                processed_at=now,
                error="no attempt of this engine matches this call",
            )
        )
    return int(getattr(result, "rowcount", 0))
