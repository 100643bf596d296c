"""Campaign state changes, each recorded with who or what caused it and why.

Operators ask "why did my campaign stop?": every move writes a ``campaign_events`` row,
and the campaign keeps the latest reason in ``state_reason``.

A campaign with a saved source is *recurring* (:func:`is_recurring`): when every contact
it has so far is final it waits as ``ongoing`` for its next pull instead of completing.
"""

from __future__ import annotations

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import Campaign, CampaignEvent, Contact, ContactSource, utcnow
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.states import (
    CONTACT_ACTIVE,
    CONTACT_FINAL,
    CONTACT_WAITING,
    CampaignState,
    campaign_can_move,
)

CIRCUIT_BREAKER = "circuit-breaker"
SCHEDULER = "scheduler"
PARKED_REASON = "no allowed calling time under the schedule"


class TransitionError(Exception):
    """The requested move is not allowed from the campaign's current state."""


async def transition(
    session: AsyncSession,
    campaign_id: str,
    target: CampaignState,
    *,
    actor: str,
    reason: str | None = None,
) -> Campaign:
    """Move a campaign to ``target`` (only forward moves the state machine allows)."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    current = CampaignState(campaign.state)
    if current == target:
        return campaign
    if not campaign_can_move(current, target):
        raise TransitionError(
            f"campaign {campaign_id} is {current.value}; cannot go {target.value}"
        )
    now = utcnow()
    campaign.state = target.value
    campaign.state_reason = reason
    if target is CampaignState.RUNNING and campaign.started_at is None:
        campaign.started_at = now
    if target in (CampaignState.COMPLETED, CampaignState.CANCELED):
        campaign.finished_at = now
    session.add(
        CampaignEvent(
            campaign_id=campaign_id,
            from_state=current.value,
            to_state=target.value,
            actor=actor,
            reason=reason,
            created_at=now,
        )
    )
    await session.flush()
    detail = f"from {current.value}, by {actor}" + (f": {reason}" if reason else "")
    state_log.note(session, [Change("campaign", target.value, campaign_id, detail=detail)])
    return campaign


async def restate(
    session: AsyncSession, campaign_id: str, state: CampaignState, reason: str
) -> bool:
    """Change the reason of a campaign still in ``state`` (an ongoing campaign's next pull
    moved on): one conditional UPDATE, so a move made meanwhile keeps its own reason, and
    nothing is written when the reason is the same. No event, since nothing moved. Whether
    the reason changed."""
    result = await session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.state == state.value,
            Campaign.state_reason.is_distinct_from(reason),
        )
        .values(state_reason=reason)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0))


async def is_recurring(session: AsyncSession, campaign_id: str) -> bool:
    """Whether the campaign has a saved source: it stays open across days for its pulls."""
    return bool(
        await session.scalar(select(exists().where(ContactSource.campaign_id == campaign_id)))
    )


async def open_contacts(session: AsyncSession, campaign_id: str) -> int:
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Contact)
            .where(
                Contact.campaign_id == campaign_id,
                Contact.state.not_in([state.value for state in CONTACT_FINAL]),
            )
        )
        or 0
    )


async def has_open_contacts(session: AsyncSession, campaign_id: str) -> bool:
    """True while any contact may still be called: active, or waiting with a time.

    One ``EXISTS`` probe of ``ix_contacts_due`` (campaign, state, time) per open state, so
    the cost does not grow with the campaign, all in one statement: separate queries would
    each see the table at another moment, and a contact moving from ``retrying`` to
    ``queued`` between two of them would be seen in neither (the campaign would complete
    under it). Parked contacts (waiting with no allowed time left) do not count.
    """
    probes = []
    for state in (*CONTACT_ACTIVE, *CONTACT_WAITING):
        conditions = [Contact.campaign_id == campaign_id, Contact.state == state.value]
        if state in CONTACT_WAITING:
            conditions.append(Contact.next_attempt_at.is_not(None))
        probes.append(select(Contact.id).where(*conditions).exists())
    return bool(await session.scalar(select(or_(*probes))))
