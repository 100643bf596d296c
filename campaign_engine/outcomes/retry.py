"""Each concluded attempt's contact: retry (when, inside its calendar) or final — in bulk.

Called by :mod:`campaign_engine.outcomes.record` for a batch of attempts that just became
final, inside the outcome's transaction. The statements do not grow with the batch: one read
of the campaigns (retry policy, state), one of the contacts' attempt histories, one of the
calendars of the contacts to retry, and one executemany UPDATE of the contacts. The decision
itself is the plain :func:`~campaign_engine.campaigns.retry_policy.decide` and
:func:`~campaign_engine.campaigns.retry_timing.placed`.

The batch must hold at most one attempt per contact (the caller splits it): a contact's
history is read once, after every attempt of the batch was written.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import Decision, RetryPolicy, decide
from campaign_engine.campaigns.retry_timing import placed
from campaign_engine.campaigns.window_check import calendars_of
from campaign_engine.db.models import CallAttempt, Campaign, Contact
from campaign_engine.states import AttemptState, ContactState, contact_guard

_rng = random.Random()

_CONCLUDED = (AttemptState.ENDED.value, AttemptState.EXPIRED.value)
# The contact's next step: from its call to a retry or a final state (the move table's).
_IN_A_CALL = contact_guard(
    [ContactState.DIALING, ContactState.CALLING],
    ContactState.RETRYING,
    ContactState.COMPLETED,
    ContactState.EXHAUSTED,
    ContactState.FAILED,
    ContactState.CANCELED,
)

_contacts = cast(Table, Contact.__table__)
# Only a contact still in its call moves: one closed meanwhile (canceled, skipped) stays.
_MOVE_CONTACT = (
    update(_contacts)
    .where(
        _contacts.c.id == bindparam("b_id"),
        or_(*(_contacts.c.state == state for state in _IN_A_CALL)),
    )
    .values(
        state=bindparam("b_state"),
        next_attempt_at=bindparam("b_next"),
        last_outcome=bindparam("b_outcome"),
        last_error=bindparam("b_error"),
    )
)


async def decide_next(
    session: AsyncSession, attempts: Sequence[CallAttempt], now: datetime
) -> dict[int, Decision]:
    """Decide and write each attempt's contact's next step; the decisions by attempt id."""
    if not attempts:
        return {}
    campaigns = {
        row.id: row
        for row in await session.execute(
            select(
                Campaign.id,
                Campaign.retry_policy,
                Campaign.state,
                Campaign.state_reason,
                Campaign.schedule.is_not(None).label("scheduled"),
            ).where(Campaign.id.in_({attempt.campaign_id for attempt in attempts}))
        )
    }
    policies = {
        campaign_id: RetryPolicy.model_validate(row.retry_policy or {})
        for campaign_id, row in campaigns.items()
    }
    histories = await _histories(session, [attempt.contact_id for attempt in attempts])
    decided = {
        attempt.id: decide(
            policies.get(attempt.campaign_id) or RetryPolicy(),
            histories.get(attempt.contact_id, []),
            _rng,
        )
        for attempt in attempts
    }
    # Without a schedule a contact may be called at any time: no calendar to read.
    scheduled = {campaign_id for campaign_id, row in campaigns.items() if row.scheduled}
    retrying = [
        attempt.contact_id
        for attempt in attempts
        if decided[attempt.id].retry and attempt.campaign_id in scheduled
    ]
    calendars = await calendars_of(session, retrying) if retrying else {}
    rows: list[dict[str, Any]] = []
    for attempt in attempts:
        campaign = campaigns.get(attempt.campaign_id)
        decision, moment = placed(
            decided[attempt.id],
            campaign_state=campaign.state if campaign else None,
            campaign_reason=campaign.state_reason if campaign else None,
            calendar=calendars.get(attempt.contact_id),
            now=now,
        )
        decided[attempt.id] = decision
        rows.append(_contact_row(attempt, decision, moment))
    await session.execute(_MOVE_CONTACT, sorted(rows, key=lambda row: int(row["b_id"])))
    return decided


async def _histories(session: AsyncSession, contact_ids: list[int]) -> dict[int, list[Outcome]]:
    """Each contact's concluded attempts' outcomes, oldest first."""
    found: dict[int, list[Outcome]] = {}
    rows = await session.execute(
        select(CallAttempt.contact_id, CallAttempt.outcome)
        .where(CallAttempt.contact_id.in_(contact_ids), CallAttempt.state.in_(_CONCLUDED))
        .order_by(CallAttempt.contact_id, CallAttempt.attempt_number)
    )
    for contact_id, outcome in rows:
        if outcome is not None:
            found.setdefault(contact_id, []).append(Outcome(outcome))
    return found


def _contact_row(
    attempt: CallAttempt, decision: Decision, moment: datetime | None
) -> dict[str, Any]:
    outcome = Outcome(attempt.outcome or Outcome.UNKNOWN)
    final = decision.final_state
    return {
        "b_id": attempt.contact_id,
        "b_state": final.value if final is not None else ContactState.RETRYING.value,
        "b_next": None if final is not None else moment,
        "b_outcome": outcome.value,
        "b_error": attempt.error if outcome is not Outcome.COMPLETED else None,
    }
