"""A webhook that comes after its outcome was decided without it still counts.

The reconciler decides an outcome from ``GET /calls/{id}`` only once the webhook is overdue
(:mod:`~campaign_engine.outcomes.call_ended`); a webhook that comes later anyway carries
what the poll could not: the disposition (voicemail, no speech), who answered, the
transcript, the extraction, the recording. It enriches the attempt, and when the outcome
class changes and the contact's next step has not run yet (it is still waiting for the
retry this attempt scheduled), the next step is decided again from the full outcome. A
contact already closed, or already dialed again, keeps its course.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.outcome_classes import classify
from campaign_engine.db.models import CallAttempt, Contact
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.notifications.emit import emit_outcomes
from campaign_engine.outcomes.record import POLL, POLL_THEN_WEBHOOK, CallReport
from campaign_engine.outcomes.retry import decide_next
from campaign_engine.states import AttemptState, ContactState, contact_guard

_REOPENABLE = contact_guard([ContactState.RETRYING], ContactState.CALLING)


async def enrich_outcomes(
    session: AsyncSession, reports: Sequence[tuple[int, CallReport]], now: datetime
) -> list[int]:
    """Apply late webhooks' ``reports`` to attempts whose outcome a poll decided; the ids of
    the attempts enriched (others are untouched)."""
    by_id = dict(reports)
    decided_by_poll = (
        await session.scalars(
            select(CallAttempt).where(
                CallAttempt.id.in_(list(by_id)),
                CallAttempt.state == AttemptState.ENDED.value,
                CallAttempt.outcome_source == POLL,
            )
        )
    ).all()
    enriched = []
    for attempt in decided_by_poll:
        report = by_id[attempt.id]
        before = attempt.outcome
        outcome = classify(report.call_status or attempt.call_status, report.disposition).value
        await session.execute(
            update(CallAttempt)
            .where(CallAttempt.id == attempt.id, CallAttempt.outcome_source == POLL)
            .values(_enriched_values(report, attempt, outcome))
            .execution_options(synchronize_session=False)
        )
        enriched.append(attempt.id)
        if outcome != before:
            await _decide_again(session, attempt.id, now)
    return enriched


def _enriched_values(report: CallReport, attempt: CallAttempt, outcome: str) -> dict[str, object]:
    return {
        "disposition": report.disposition,
        "answered_by": report.answered_by,
        "duration_seconds": report.duration_seconds or attempt.duration_seconds,
        "credits_used": report.credits_used or attempt.credits_used,
        "recording_url": report.recording_url or attempt.recording_url,
        "extraction": report.extraction or attempt.extraction,
        "transcript": report.transcript or attempt.transcript,
        "outcome": outcome,
        "outcome_source": POLL_THEN_WEBHOOK,
    }


async def _decide_again(session: AsyncSession, attempt_id: int, now: datetime) -> None:
    """The contact still waits for the retry this attempt scheduled: decide its next step
    from the full outcome (it is back "in the call" for the length of this transaction)."""
    attempt = (
        await session.scalars(
            select(CallAttempt)
            .where(CallAttempt.id == attempt_id)
            .execution_options(populate_existing=True)
        )
    ).one()
    reopened = await session.execute(
        update(Contact)
        .where(
            Contact.id == attempt.contact_id,
            Contact.state.in_(_REOPENABLE),
            Contact.attempts_count == attempt.attempt_number,
        )
        .values(state=ContactState.CALLING.value)
        .execution_options(synchronize_session=False)
    )
    if not getattr(reopened, "rowcount", 0):
        return
    decisions = await decide_next(session, [attempt], now)
    decision = decisions[attempt.id]
    await emit_outcomes(session, [(attempt, decision)])
    next_state = decision.final_state.value if decision.final_state else "retrying"
    detail = f"{attempt.outcome} (late webhook); contact {next_state} ({decision.reason})"
    state_log.note(
        session,
        [Change("attempt", "ended", attempt.campaign_id, attempt.contact_id, attempt.id, detail)],
    )
