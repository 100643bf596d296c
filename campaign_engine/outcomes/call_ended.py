"""A call is over before anyone can say how it ended: free its slots now, decide later.

Polling tells *that* a call ended the moment it does (its status in ``GET /calls``); *how*
it ended — voicemail, a callee who never spoke — is the disposition, which only the
``session.completed`` webhook is documented to carry, and that leaves after post-call
processing (seconds to a minute later) or never. So an attempt polling saw end becomes
``processing``: its concurrency slots are given back at once (the next call may start),
while its outcome, the contact's next step and the notification wait for the webhook until
``outcome_due_at``. Then the reconciler asks ``GET /calls/{id}`` and decides from what is
known, recording that it decided without the webhook (``outcome_source = "poll"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.outcome_classes import settled_by_status
from campaign_engine.db.models import CallAttempt
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.limits.limiter import lease_name
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.states import AttemptState, sources_of, state_values

Release = tuple[tuple[str, ...], str]  # slot names and the lease to give back


@dataclass(frozen=True)
class CallEnded:
    """What polling saw of one ended call (the status when a listing or a read told it)."""

    attempt_id: int
    call_status: str | None = None
    ended_at: datetime | None = None
    duration_seconds: float | None = None
    how: str = "polling"


async def mark_calls_ended(
    session: AsyncSession, ended: Sequence[CallEnded], *, now: datetime, wait: timedelta
) -> list[Release]:
    """Move these attempts (those still live) to ``processing`` until ``now + wait``; the
    slots to release once the transaction commits."""
    if not ended:
        return []
    by_id = {one.attempt_id: one for one in ended}
    moved = (
        await session.scalars(
            update(CallAttempt)
            .where(
                CallAttempt.id.in_(list(by_id)),
                CallAttempt.state.in_(state_values(sources_of(AttemptState.PROCESSING))),
            )
            .values(state=AttemptState.PROCESSING.value, outcome_due_at=now + wait)
            .returning(CallAttempt)
            .execution_options(synchronize_session=False)
        )
    ).all()
    for attempt in moved:  # a few per reconciler tick
        # An outcome no webhook can refine (no answer, busy) is due at once.
        await session.execute(
            update(CallAttempt)
            .where(CallAttempt.id == attempt.id)
            .values(**_details(by_id[attempt.id], now))
            .execution_options(synchronize_session=False)
        )
    state_log.note(
        session,
        (
            Change(
                "attempt",
                AttemptState.PROCESSING.value,
                attempt.campaign_id,
                attempt.contact_id,
                attempt.id,
                f"call over ({by_id[attempt.id].how}); slot freed, outcome awaits the webhook",
            )
            for attempt in moved
        ),
    )
    return [
        (
            slot_names_for(attempt.provider, attempt.campaign_id),
            lease_name(attempt.contact_id, attempt.attempt_number),
        )
        for attempt in moved
    ]


def _details(one: CallEnded, now: datetime) -> dict[str, object]:
    values: dict[str, object] = {"ended_at": one.ended_at or now}
    if one.call_status is not None:
        values["call_status"] = one.call_status
    if settled_by_status(one.call_status):
        values["outcome_due_at"] = now
    if one.duration_seconds is not None:
        values["duration_seconds"] = one.duration_seconds
    return values


async def postpone_outcome(
    session: AsyncSession, attempt_id: int, *, now: datetime, until: datetime
) -> None:
    """Post-call processing is not complete yet: wait for the webhook a while longer."""
    await session.execute(
        update(CallAttempt)
        .where(CallAttempt.id == attempt_id, CallAttempt.state == AttemptState.PROCESSING.value)
        .values(outcome_due_at=until, polled_at=now)
        .execution_options(synchronize_session=False)
    )
