"""Pause, resume, cancel, end and complete a campaign: the one path the CLI, the web console
and the engine all take. Every pause, resume, cancel and end is written to the audit log with
who made it (an operator, the circuit breaker) in the same transaction as the move itself.

A recurring campaign (one with a saved source, :mod:`~campaign_engine.control.recurring`)
goes ``ongoing`` instead of completing, and runs again when it has contacts to call.

Pausing and canceling withdraw the campaign's queued jobs: the database first (inside the
caller's transaction), then Redis via :func:`withdraw` once that transaction committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.lifecycle import (
    CIRCUIT_BREAKER,
    PARKED_REASON,
    SCHEDULER,
    has_open_contacts,
    is_recurring,
    restate,
    transition,
)
from campaign_engine.campaigns.replan import replan_waiting
from campaign_engine.campaigns.schedule import from_json
from campaign_engine.campaigns.service import CampaignError, get_campaign
from campaign_engine.campaigns.withdraw import queued_jobs, remove_jobs, unqueue
from campaign_engine.control.recurring import forget_sources, ongoing_reason, wait_for_pull
from campaign_engine.db.models import Campaign, Contact, utcnow
from campaign_engine.journal.audit import record
from campaign_engine.keys import RedisKeys
from campaign_engine.outcomes.closing import close_without_call
from campaign_engine.states import (
    CAMPAIGN_TERMINAL,
    CONTACT_WAITING,
    CampaignState,
    ContactState,
)

ACTIONS = ("pause", "resume", "cancel")
# What a cancel closes: contacts not yet in a call (those in one finish, are recorded, and
# are then canceled instead of retried: see campaign_engine.campaigns.retry_timing).
_CANCELABLE = (*CONTACT_WAITING, ContactState.QUEUED)
ALL_FINAL = "all contacts final"
ENDED = "ended by operator"
NEW_CONTACTS = "new contacts to call"
NO_SOURCE_LEFT = "all contacts final; no saved source left to pull"


@dataclass(frozen=True)
class Moved:
    """Where the campaign is now; the dial jobs to take out of Redis once committed; how many
    contacts the move closed; how many saved sources it forgot (``end``)."""

    state: CampaignState
    jobs: list[str] = field(default_factory=list)
    contacts_closed: int = 0
    sources_forgotten: int = 0


async def _audit(
    session: AsyncSession,
    action: str,
    campaign_id: str,
    actor: str,
    reason: str | None,
    moved: Moved,
) -> None:
    await record(
        session,
        actor=actor,
        action=action,
        target_type="campaign",
        target_id=campaign_id,
        # One job id per queued contact (the jobs carrying them are named after one each).
        details={"reason": reason, "contacts_withdrawn": len(moved.jobs)},
    )


async def pause(
    session: AsyncSession,
    campaign_id: str,
    *,
    keys: RedisKeys,
    actor: str,
    reason: str | None = None,
) -> Moved:
    """Pause now: queued contacts go back to waiting (their jobs are to be withdrawn); calls
    already ringing finish and are recorded."""
    await transition(
        session, campaign_id, CampaignState.PAUSED, actor=actor, reason=reason or "paused"
    )
    moved = Moved(
        CampaignState.PAUSED, await unqueue(session, keys, campaign_id, "campaign paused")
    )
    await _audit(session, "pause", campaign_id, actor, reason, moved)
    return moved


async def resume(
    session: AsyncSession, campaign_id: str, *, actor: str, reason: str | None = None
) -> Moved:
    """Running again — or ``scheduled`` when its schedule starts later, or ``ongoing`` when
    it is recurring and has nothing to call until its next pull."""
    campaign = await get_campaign(session, campaign_id)
    if campaign.state in (CampaignState.DRAFT.value, CampaignState.SCHEDULED.value):
        # Resuming must not bypass start's checks (contacts present, Vocobase agrees).
        raise CampaignError(
            f"campaign {campaign_id} is {campaign.state}; it has never run: use `campaign start`"
        )
    now = utcnow()
    schedule = from_json(campaign.schedule)
    starts = schedule.starts_at() if schedule else None
    if starts is not None and starts > now:
        target = CampaignState.SCHEDULED
    elif await is_recurring(session, campaign_id) and not await has_open_contacts(
        session, campaign_id
    ):
        target = CampaignState.ONGOING
    else:
        target = CampaignState.RUNNING
    if target is CampaignState.ONGOING:
        await wait_for_pull(session, campaign_id, now, actor=actor)
    else:
        await transition(session, campaign_id, target, actor=actor, reason=reason or "resumed")
    if schedule is not None:
        # Contacts that fell due while paused and whose window has closed wait for the next.
        await replan_waiting(session, campaign_id, now, only_due=True)
    moved = Moved(target)
    await _audit(session, "resume", campaign_id, actor, reason, moved)
    return moved


async def cancel(
    session: AsyncSession,
    campaign_id: str,
    *,
    keys: RedisKeys,
    actor: str,
    reason: str | None = None,
) -> Moved:
    """Cancel the campaign and every contact not already final or in a call."""
    jobs = await queued_jobs(session, keys, campaign_id)
    await transition(
        session, campaign_id, CampaignState.CANCELED, actor=actor, reason=reason or "canceled"
    )
    why = "campaign canceled" + (f": {reason}" if reason and reason != "canceled" else "")
    closed = await close_open_contacts(session, campaign_id, why)
    moved = Moved(CampaignState.CANCELED, jobs, closed)
    await _audit(session, "cancel", campaign_id, actor, reason, moved)
    return moved


async def close_open_contacts(session: AsyncSession, campaign_id: str, reason: str) -> int:
    """Cancel, with ``reason``, every contact of the campaign not final and not in a call
    (a cancel, a completion, the schedule's end); how many."""
    closed = await close_without_call(
        session,
        Contact.campaign_id == campaign_id,
        from_states=_CANCELABLE,
        state=ContactState.CANCELED,
        reason=reason,
    )
    return len(closed)


async def control(
    session: AsyncSession,
    keys: RedisKeys,
    campaign_id: str,
    action: str,
    *,
    actor: str,
    reason: str | None = None,
) -> Moved:
    """Do ``action`` (one of :data:`ACTIONS`, as the console and ``ops`` name them)."""
    if action == "pause":
        return await pause(session, campaign_id, keys=keys, actor=actor, reason=reason)
    if action == "resume":
        return await resume(session, campaign_id, actor=actor, reason=reason)
    if action == "cancel":
        return await cancel(session, campaign_id, keys=keys, actor=actor, reason=reason)
    raise ValueError(f"unknown campaign action {action!r}; expected one of {ACTIONS}")


async def withdraw(redis: Redis, keys: RedisKeys, jobs: list[str]) -> int:
    """Take the jobs out of the queue; a job left behind finds nothing to do."""
    return await remove_jobs(redis, keys, jobs) if jobs else 0


async def pause_for_error(session: AsyncSession, campaign_id: str, error: str) -> bool:
    """The circuit breaker: an error that would fail every contact pauses a running campaign
    (audited as the circuit breaker's pause). The scheduler withdraws its queued jobs: a dial
    job cannot reach the others. Whether it paused the campaign."""
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None or campaign.state != CampaignState.RUNNING.value:
        return False
    await transition(
        session, campaign_id, CampaignState.PAUSED, actor=CIRCUIT_BREAKER, reason=error
    )
    await _audit(session, "pause", campaign_id, CIRCUIT_BREAKER, error, Moved(CampaignState.PAUSED))
    return True


async def end(
    session: AsyncSession,
    campaign_id: str,
    *,
    actor: str,
    reason: str | None = None,
) -> Moved:
    """End a recurring campaign: its saved sources are forgotten (no more pulls), and it
    completes once the contacts it has are final — at once when they all are. Paused or
    scheduled, it stays so; resumed, it completes like a one-off campaign. A move the
    scheduler makes meanwhile is caught up with: an ongoing campaign left without a source
    completes at its next tick (:func:`settle_ongoing`)."""
    campaign = await get_campaign(session, campaign_id)
    state = CampaignState(campaign.state)
    if state in CAMPAIGN_TERMINAL or state is CampaignState.DRAFT:
        raise CampaignError(
            f"campaign {campaign_id} is {state.value}; only a started campaign can be ended"
        )
    if not await is_recurring(session, campaign_id):
        raise CampaignError(
            f"campaign {campaign_id} has no saved source, so it is not recurring: it completes "
            "by itself once its contacts are final (`campaign cancel` stops it now)"
        )
    forgotten = await forget_sources(session, campaign_id)
    why = ENDED + (f": {reason}" if reason else "")
    closed = 0
    if state in (CampaignState.RUNNING, CampaignState.ONGOING):
        if await has_open_contacts(session, campaign_id):
            waiting = f"{why}; completes when its contacts are final"
            if state is CampaignState.ONGOING:
                await transition(
                    session, campaign_id, CampaignState.RUNNING, actor=actor, reason=waiting
                )
            else:
                await restate(session, campaign_id, CampaignState.RUNNING, waiting)
            state = CampaignState.RUNNING
        else:
            await transition(session, campaign_id, CampaignState.COMPLETED, actor=actor, reason=why)
            closed = await close_open_contacts(session, campaign_id, PARKED_REASON)
            state = CampaignState.COMPLETED
    await record(
        session,
        actor=actor,
        action="end",
        target_type="campaign",
        target_id=campaign_id,
        details={"reason": reason, "sources_forgotten": forgotten},
    )
    return Moved(state, contacts_closed=closed, sources_forgotten=len(forgotten))


async def complete_finished(session: AsyncSession, now: datetime | None = None) -> list[str]:
    """Complete every running one-off campaign whose contacts are all final (or parked);
    their ids. A recurring one goes ``ongoing`` instead, to wait for its next pull.

    Parked contacts — left with no allowed calling time — are canceled with that reason
    when the campaign completes.
    """
    now = now or utcnow()
    running = (
        await session.scalars(
            select(Campaign.id).where(Campaign.state == CampaignState.RUNNING.value)
        )
    ).all()
    done = []
    for campaign_id in running:
        if await has_open_contacts(session, campaign_id):
            continue
        if await is_recurring(session, campaign_id):
            await wait_for_pull(session, campaign_id, now)
            continue
        await transition(
            session, campaign_id, CampaignState.COMPLETED, actor=SCHEDULER, reason=ALL_FINAL
        )
        await close_open_contacts(session, campaign_id, PARKED_REASON)
        done.append(campaign_id)
    return done


async def settle_ongoing(session: AsyncSession, now: datetime) -> list[tuple[str, str]]:
    """Every ongoing campaign with contacts to call runs again (a pull, an import or an
    operator added them); one whose saved sources were forgotten completes; the others'
    reasons follow their next pull. (campaign id, new state) for each campaign moved."""
    ongoing = (
        await session.scalars(
            select(Campaign.id).where(Campaign.state == CampaignState.ONGOING.value)
        )
    ).all()
    moved: list[tuple[str, str]] = []
    for campaign_id in ongoing:
        if await has_open_contacts(session, campaign_id):
            await transition(
                session, campaign_id, CampaignState.RUNNING, actor=SCHEDULER, reason=NEW_CONTACTS
            )
            moved.append((campaign_id, CampaignState.RUNNING.value))
        elif not await is_recurring(session, campaign_id):
            await transition(
                session,
                campaign_id,
                CampaignState.COMPLETED,
                actor=SCHEDULER,
                reason=NO_SOURCE_LEFT,
            )
            await close_open_contacts(session, campaign_id, PARKED_REASON)
            moved.append((campaign_id, CampaignState.COMPLETED.value))
        else:
            reason = await ongoing_reason(session, campaign_id, now)
            await restate(session, campaign_id, CampaignState.ONGOING, reason)
    return moved
