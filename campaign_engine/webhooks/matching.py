"""Which attempt does each webhook event report on? For a batch, in at most two reads.

By call_id, then session_id (one read for the whole batch), else by the engine's attempt id
echoed back in ``variables`` (one more read, only for events the first left unmatched) —
trusted only when the event's number agrees with the number dialed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Row, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import CallAttempt
from campaign_engine.vocobase.schemas import SessionCompletedEvent

MAX_ATTEMPT_ID = 2**63 - 1  # attempt ids are BIGINT


@dataclass(frozen=True)
class Candidate:
    """The columns of an attempt that matching looks at."""

    id: int
    call_id: str | None
    session_id: str | None
    to_number: str


def echoed_id(event: SessionCompletedEvent, correlation_variable: str) -> int | None:
    """The attempt id the agent echoed back, when it is one (plain)."""
    echoed = event.data.variables.get(correlation_variable)
    if isinstance(echoed, str | int) and str(echoed).isdigit():
        value = int(echoed)
        return value if value <= MAX_ATTEMPT_ID else None  # beyond any id the table holds
    return None


def by_ids(
    event: SessionCompletedEvent, by_call: dict[str, int], by_session: dict[str, int]
) -> int | None:
    """The attempt with the event's call_id, else its session_id (plain)."""
    call_id = event.data.call.call_id if event.data.call else None
    if call_id and call_id in by_call:
        return by_call[call_id]
    return by_session.get(event.data.session_id)


def echo_trusted(event: SessionCompletedEvent, attempt: Candidate) -> bool:
    """An echoed id is trusted only when it agrees with what we dialed (plain)."""
    call = event.data.call
    return call is None or call.to_number in (None, attempt.to_number)


def _candidate(row: Row[int, str | None, str | None, str]) -> Candidate:
    return Candidate(row.id, row.call_id, row.session_id, row.to_number)


_COLUMNS = (CallAttempt.id, CallAttempt.call_id, CallAttempt.session_id, CallAttempt.to_number)


async def find_attempts(
    session: AsyncSession,
    events: Sequence[tuple[int, SessionCompletedEvent]],
    correlation_variable: str,
) -> dict[int, int]:
    """The attempt id each ``(event id, event)`` reports on; unmatched events are left out."""
    if not events:
        return {}
    call_ids = {event.data.call.call_id for _, event in events if event.data.call}
    session_ids = {event.data.session_id for _, event in events}
    conditions = [CallAttempt.session_id.in_(session_ids)]
    if call_ids:
        conditions.append(CallAttempt.call_id.in_(call_ids))
    found_rows = await session.execute(select(*_COLUMNS).where(or_(*conditions)))
    rows = [_candidate(row) for row in found_rows]
    by_call = {row.call_id: row.id for row in rows if row.call_id}
    by_session = {row.session_id: row.id for row in rows if row.session_id}
    found: dict[int, int] = {}
    echoes: dict[int, int] = {}
    for event_id, event in events:
        attempt_id = by_ids(event, by_call, by_session)
        if attempt_id is not None:
            found[event_id] = attempt_id
            continue
        echoed = echoed_id(event, correlation_variable)
        if echoed is not None:
            echoes[event_id] = echoed
    if echoes:
        echoed_rows = await session.execute(
            select(*_COLUMNS).where(CallAttempt.id.in_(set(echoes.values())))
        )
        candidates = {row.id: _candidate(row) for row in echoed_rows}
        events_by_id = dict(events)
        for event_id, attempt_id in echoes.items():
            candidate = candidates.get(attempt_id)
            if candidate is not None and echo_trusted(events_by_id[event_id], candidate):
                found[event_id] = attempt_id
    return found
