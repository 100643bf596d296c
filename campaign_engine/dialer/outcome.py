"""Record how a call ended, from a webhook or from polling, through one forward-only path.

Both the webhook processor and the reconciler call :func:`record_outcome`; whichever comes
second finds the attempt already final and changes nothing, so duplicates, replays and
late events are harmless. The contact's next step comes from the campaign's retry policy.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.outcomes import Outcome, classify
from campaign_engine.campaigns.retry_policy import Decision, RetryPolicy, decide
from campaign_engine.campaigns.retry_timing import place_retry
from campaign_engine.campaigns.states import (
    ATTEMPT_OPEN,
    AttemptState,
    ContactState,
)
from campaign_engine.db.models import CallAttempt, Campaign, Contact, utcnow
from campaign_engine.dialer.limit_plan import slot_names_for
from campaign_engine.notifications.emit import emit_outcome

_rng = random.Random()


@dataclass(frozen=True)
class CallReport:
    """What Vocobase told us about a finished call, whichever way it arrived."""

    call_status: str | None
    disposition: str | None = None
    answered_by: str | None = None
    call_id: str | None = None
    session_id: str | None = None
    duration_seconds: float | None = None
    credits_used: float | None = None
    recording_url: str | None = None
    extraction: dict[str, Any] | None = None
    transcript: list[Any] | None = None
    ended_at: datetime | None = None
    error: str | None = None
    # Set when the engine knows the class itself (e.g. Vocobase refused the number).
    outcome: Outcome | None = None


@dataclass(frozen=True)
class Recorded:
    """The result of recording; ``applied`` is False when the attempt was already final."""

    applied: bool
    attempt_id: int
    contact_id: int
    outcome: Outcome | None = None
    decision: Decision | None = None
    lease: str = ""
    slot_names: tuple[str, ...] = ()


def _open_states() -> list[str]:
    return [state.value for state in ATTEMPT_OPEN]


async def record_outcome(session: AsyncSession, attempt_id: int, report: CallReport) -> Recorded:
    """Apply ``report`` to the attempt and decide the contact's next step (idempotent)."""
    values: dict[str, Any] = {
        "state": AttemptState.ENDED.value,
        "call_status": report.call_status,
        "disposition": report.disposition,
        "answered_by": report.answered_by,
        "duration_seconds": report.duration_seconds,
        "credits_used": report.credits_used,
        "recording_url": report.recording_url,
        "extraction": report.extraction,
        "transcript": report.transcript,
        "ended_at": report.ended_at or utcnow(),
        "outcome": (report.outcome or classify(report.call_status, report.disposition)).value,
    }
    if report.error is not None:
        values["error"] = report.error
    return await _conclude(session, attempt_id, values, report)


async def expire_attempt(session: AsyncSession, attempt_id: int, reason: str) -> Recorded:
    """No outcome could be learned in time: close the attempt; the contact is not redialed
    (the call may have reached the person)."""
    values = {
        "state": AttemptState.EXPIRED.value,
        "outcome": Outcome.UNKNOWN.value,
        "error": reason,
        "ended_at": utcnow(),
    }
    return await _conclude(session, attempt_id, values, None)


async def _conclude(
    session: AsyncSession, attempt_id: int, values: dict[str, Any], report: CallReport | None
) -> Recorded:
    attempt = await session.get(CallAttempt, attempt_id)
    if attempt is None:
        raise LookupError(f"attempt {attempt_id} does not exist")
    if report is not None:
        # A webhook that beat the start response carries the ids we have not stored yet.
        if attempt.call_id is None and report.call_id:
            values["call_id"] = report.call_id
        if attempt.session_id is None and report.session_id:
            values["session_id"] = report.session_id
    moved = await session.execute(
        update(CallAttempt)
        .where(CallAttempt.id == attempt_id, CallAttempt.state.in_(_open_states()))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not getattr(moved, "rowcount", 0):
        return Recorded(False, attempt_id, attempt.contact_id)
    await session.refresh(attempt)
    outcome = Outcome(values["outcome"])
    decision = await _decide_next(session, attempt, outcome)
    await emit_outcome(session, attempt, decision)
    return Recorded(
        True,
        attempt_id,
        attempt.contact_id,
        outcome,
        decision,
        lease=f"{attempt.contact_id}:{attempt.attempt_number}",
        slot_names=slot_names_for(attempt.provider, attempt.campaign_id),
    )


async def _decide_next(session: AsyncSession, attempt: CallAttempt, outcome: Outcome) -> Decision:
    policy_data = await session.scalar(
        select(Campaign.retry_policy).where(Campaign.id == attempt.campaign_id)
    )
    policy = RetryPolicy.model_validate(policy_data or {})
    history = (
        await session.scalars(
            select(CallAttempt.outcome)
            .where(
                CallAttempt.contact_id == attempt.contact_id,
                CallAttempt.state.in_([AttemptState.ENDED.value, AttemptState.EXPIRED.value]),
            )
            .order_by(CallAttempt.attempt_number)
        )
    ).all()
    outcomes = [Outcome(value) for value in history if value is not None]
    decision, retry_at = await place_retry(
        session, attempt.campaign_id, attempt.contact_id, decide(policy, outcomes, _rng)
    )
    contact_values: dict[str, Any] = {"last_outcome": outcome.value}
    if decision.final_state is not None:
        contact_values.update(state=decision.final_state.value, next_attempt_at=None)
    else:
        contact_values.update(
            state=ContactState.RETRYING.value,
            next_attempt_at=retry_at,
        )
    contact_values["last_error"] = attempt.error if outcome is not Outcome.COMPLETED else None
    await session.execute(
        update(Contact)
        .where(
            Contact.id == attempt.contact_id,
            Contact.state.in_([ContactState.DIALING.value, ContactState.CALLING.value]),
        )
        .values(**contact_values)
    )
    return decision
