"""Database writes around start requests: claim them, then record what each request did.

Every write is a set-based conditional UPDATE that names the state it expects, so two
workers, a duplicated job, an operator's skip or a webhook racing the start response can
never both win: the loser's rows match nothing and it steps aside. A dial job writes its
whole batch in a few statements, however many contacts it carries. The claim makes the last
checks of each number (do-not-call list, daily cap, one call at a time) in its own
transaction, after holding the numbers (:mod:`number_checks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    Table,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import CallAttempt, Contact, utcnow
from campaign_engine.dialer.targets import DialTarget
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.outcomes.closing import close_without_call
from campaign_engine.states import (
    AttemptState,
    ContactState,
    contact_guard,
    sources_of,
    state_values,
)

_QUEUED = ContactState.QUEUED.value
_DIALING = ContactState.DIALING.value
_WAITING = (ContactState.PENDING, ContactState.RETRYING)
# Every contact guard here is checked against the contact move table.
_CLAIMABLE = contact_guard([ContactState.QUEUED], ContactState.DIALING)
_HANDED_BACK = contact_guard([ContactState.QUEUED], *_WAITING)
_STARTABLE = contact_guard([ContactState.DIALING], ContactState.CALLING)
_GIVEN_BACK = contact_guard([ContactState.DIALING, ContactState.CALLING], *_WAITING)


def _waiting_after(count: SQLColumnExpression[int]) -> ColumnElement[str]:
    """The waiting state for a contact whose attempts count is ``count`` (an expression)."""
    return case((count == 0, ContactState.PENDING.value), else_=ContactState.RETRYING.value)


async def hand_back(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    *,
    delay_seconds: float = 0,
    due_at: datetime | None = None,
    parked: bool = False,
    reason: str | None,
    kind: FailureKind | None = None,
) -> int:
    """Return queued contacts to waiting without an attempt (campaign paused, no slot,
    outside the window): due again at ``due_at``, or after ``delay_seconds``; ``parked``
    ones wait with no time at all (no allowed moment is left for them). ``reason`` becomes
    their ``last_error`` and ``kind`` its ``last_failure_kind`` (``None`` clears it)."""
    moved = await _handed_back(
        session,
        targets,
        None if parked else due_at or utcnow() + timedelta(seconds=delay_seconds),
        reason,
        kind,
    )
    return len(moved)


async def _handed_back(
    session: AsyncSession,
    targets: Sequence[DialTarget],
    next_at: datetime | None,
    reason: str | None,
    kind: FailureKind | None,
) -> list[int]:
    """:func:`hand_back`'s move: the ids of the contacts it moved (those still queued)."""
    if not targets:
        return []
    moved = await session.scalars(
        update(Contact)
        .where(Contact.id.in_([t.contact_id for t in targets]), Contact.state.in_(_HANDED_BACK))
        .values(
            state=_waiting_after(Contact.attempts_count),
            queued_at=None,
            next_attempt_at=next_at,
            last_error=reason,
            last_failure_kind=kind,
        )
        .returning(Contact.id)
        .execution_options(synchronize_session=False)
    )
    return list(moved.all())


async def close_unattempted(
    session: AsyncSession, targets: Sequence[DialTarget], state: ContactState, reason: str
) -> int:
    """Close queued contacts without dialing them (e.g. suppressed after their upload)."""
    return len(await _closed_unattempted(session, targets, state, reason))


async def _closed_unattempted(
    session: AsyncSession, targets: Sequence[DialTarget], state: ContactState, reason: str
) -> list[int]:
    closed = await close_without_call(
        session,
        Contact.id.in_([t.contact_id for t in targets]),
        from_states=[ContactState.QUEUED],
        state=state,
        reason=reason,
    )
    return [one.contact_id for one in closed]


# The failure kind each refusal is handed back with (suppressed ones are closed instead).
async def mark_started_many(
    session: AsyncSession, started: Sequence[tuple[int, str, str | None]]
) -> set[int]:
    """Store the ids Vocobase gave, ``(attempt_id, call_id, session_id)`` each; those
    contacts are now in a call: the ids of the contacts this moved into ``calling``.

    If a fast webhook already ended an attempt, only its ids are filled in: the outcome it
    recorded stands.
    """
    if not started:
        return set()
    now = utcnow()
    table = CallAttempt.__table__
    assert isinstance(table, Table)
    # No IN list here: an executemany cannot expand one.
    still_open = or_(
        *(table.c.state == state for state in state_values(sources_of(AttemptState.STARTED)))
    )
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(
            state=case((still_open, AttemptState.STARTED.value), else_=table.c.state),
            call_id=func.coalesce(table.c.call_id, bindparam("b_call")),
            session_id=func.coalesce(table.c.session_id, bindparam("b_session")),
            started_at=func.coalesce(table.c.started_at, bindparam("b_now")),
            updated_at=bindparam("b_now"),
        ),
        [
            {"b_id": attempt_id, "b_call": call_id, "b_session": session_id, "b_now": now}
            for attempt_id, call_id, session_id in started
        ],
    )
    in_call = select(CallAttempt.contact_id).where(
        CallAttempt.id.in_([attempt_id for attempt_id, _, _ in started]),
        CallAttempt.state == AttemptState.STARTED.value,
    )
    calling = await session.scalars(
        update(Contact)
        .where(Contact.id.in_(in_call), Contact.state.in_(_STARTABLE))
        .values(state=ContactState.CALLING.value, updated_at=now)
        .returning(Contact.id)
        .execution_options(synchronize_session=False)
    )
    return set(calling.all())


async def mark_started(
    session: AsyncSession, attempt_id: int, *, call_id: str, session_id: str | None
) -> bool:
    """:func:`mark_started_many` for one; whether its contact is now in the call."""
    return bool(await mark_started_many(session, [(attempt_id, call_id, session_id)]))


async def mark_not_sent(
    session: AsyncSession,
    attempt_ids: Sequence[int],
    *,
    error: str,
    kind: FailureKind,
    delay_seconds: float,
) -> None:
    """The requests certainly never reached Vocobase: the attempts cost their contacts
    nothing, and the contacts wait ``delay_seconds`` for a fresh attempt. ``kind`` says why
    (a 429, a connect error...), on the attempts and on their contacts."""
    if not attempt_ids:
        return
    moved = await session.execute(
        update(CallAttempt)
        .where(
            CallAttempt.id.in_(list(attempt_ids)),
            CallAttempt.state.in_(state_values(sources_of(AttemptState.NOT_SENT))),
        )
        .values(
            state=AttemptState.NOT_SENT.value, error=error, failure_kind=kind, ended_at=utcnow()
        )
        .returning(CallAttempt.id, CallAttempt.contact_id, CallAttempt.campaign_id)
        .execution_options(synchronize_session=False)
    )
    rows = moved.all()
    await give_attempts_back(
        session,
        [row.contact_id for row in rows],
        error=error,
        kind=kind,
        delay_seconds=delay_seconds,
    )
    detail = f"{error}; the contact waits {delay_seconds:g}s for a fresh attempt"
    state_log.note(
        session,
        (
            Change("attempt", "not_sent", row.campaign_id, row.contact_id, row.id, detail)
            for row in rows
        ),
    )


async def give_attempts_back(
    session: AsyncSession,
    contact_ids: Sequence[int],
    *,
    error: str,
    delay_seconds: float,
    kind: FailureKind | None = None,
    now: datetime | None = None,
) -> None:
    """Undo the claims' count and let the contacts wait for fresh attempts; ``error`` becomes
    their ``last_error`` and ``kind`` its ``last_failure_kind`` (``None`` clears it)."""
    if not contact_ids:
        return
    await session.execute(
        update(Contact)
        .where(
            Contact.id.in_(list(contact_ids)),
            Contact.state.in_(_GIVEN_BACK),
        )
        .values(
            # Every SET expression reads the row as it was: the count before this update.
            state=_waiting_after(Contact.attempts_count - 1),
            attempts_count=Contact.attempts_count - 1,
            next_attempt_at=(now or utcnow()) + timedelta(seconds=delay_seconds),
            last_error=error,
            last_failure_kind=kind,
        )
        .execution_options(synchronize_session=False)
    )


async def give_attempt_back(
    session: AsyncSession,
    contact_id: int,
    *,
    error: str,
    delay_seconds: float,
    kind: FailureKind | None = None,
) -> None:
    await give_attempts_back(
        session, [contact_id], error=error, delay_seconds=delay_seconds, kind=kind
    )


async def mark_unknown(session: AsyncSession, attempt_ids: Sequence[int], *, error: str) -> None:
    """The requests may have placed calls: never redial blindly, let the reconciler look."""
    if not attempt_ids:
        return
    moved = await session.execute(
        update(CallAttempt)
        .where(
            CallAttempt.id.in_(list(attempt_ids)),
            CallAttempt.state.in_(state_values(sources_of(AttemptState.UNKNOWN))),
        )
        .values(state=AttemptState.UNKNOWN.value, error=error, failure_kind=FailureKind.UNKNOWN)
        .returning(CallAttempt.id, CallAttempt.contact_id, CallAttempt.campaign_id)
        .execution_options(synchronize_session=False)
    )
    detail = f"{error}; the call may exist, the reconciler will look it up"
    state_log.note(
        session,
        (
            Change("attempt", "unknown", row.campaign_id, row.contact_id, row.id, detail)
            for row in moved
        ),
    )
