"""One dispatch round: what the scheduler queues now, and for whom.

The room every limit has within ``dispatch_ahead_seconds`` (:mod:`room`), less what is
already queued; operators' "call now" contacts first (their lane is filled only by other
"call now" contacts), then the rest shared out by the campaigns' priorities
(:mod:`dispatch`), never past ``queue_bound_factor`` x the concurrency in force.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import Campaign
from campaign_engine.dialer import due_contacts
from campaign_engine.dialer.dispatch import (
    QUEUE,
    Claimant,
    fits,
    less_used,
    queue_bound,
    room_names,
    share_out,
)
from campaign_engine.dialer.room import read_room
from campaign_engine.limits.plan import start_plan
from campaign_engine.runtime import Runtime
from campaign_engine.states import CampaignState


async def choose_round(
    session: AsyncSession, runtime: Runtime, now: datetime
) -> list[tuple[bool, list[tuple[int, int]]]]:
    """Move this round's contacts to ``queued`` (in the caller's transaction): per
    campaign, ``(urgent, [(contact_id, attempts_count), ...])`` to enqueue once committed."""
    settings = runtime.settings.scheduler
    campaigns = (
        await session.execute(
            select(
                Campaign.id,
                Campaign.priority,
                Campaign.provider,
                Campaign.max_concurrent,
                Campaign.calls_per_minute,
            ).where(Campaign.state == CampaignState.RUNNING.value)
        )
    ).all()
    if not campaigns:
        return []
    state = await runtime.limit_state.get(runtime.redis, runtime.keys)
    limits = runtime.settings.limits
    concurrency = state.concurrency(limits)
    plans = {
        row.id: start_plan(
            limits,
            provider=row.provider,
            campaign_id=row.id,
            campaign_max_concurrent=row.max_concurrent,
            campaign_calls_per_minute=row.calls_per_minute,
            vocobase_concurrency=concurrency,
            rate_factor=state.rate_factor,
        )
        for row in campaigns
    }
    uses = {campaign_id: room_names(plan) for campaign_id, plan in plans.items()}
    ahead_ms = int(settings.dispatch_ahead_seconds * 1000)
    room = await read_room(runtime.redis, runtime.keys, plans.values(), ahead_ms)
    room[QUEUE] = queue_bound(settings.queue_bound_factor, concurrency)
    held = await due_contacts.holdings(session, list(plans))
    # "Call now" contacts pass first: only other urgent ones already queued use their room.
    lane_room = less_used(room, ((uses[c], h.urgent) for c, h in held.items()))
    left = less_used(room, ((uses[c], h.queued) for c, h in held.items()))
    lane_room[QUEUE] = left[QUEUE]  # the queue's bound holds for every lane
    chosen: list[tuple[bool, list[tuple[int, int]]]] = []
    lane = await due_contacts.call_now_due(session, now, list(uses), settings.batch_size)
    for campaign_id, contacts in due_contacts.by_campaign(
        [row for row in lane if fits(lane_room, uses[row[1]])]
    ).items():
        await due_contacts.mark_queued(session, [c for c, _ in contacts], now)
        for _ in contacts:
            fits(left, uses[campaign_id])
        chosen.append((True, contacts))
    claimants = []
    for row in campaigns:
        queued = held[row.id].queued if row.id in held else 0
        most = min([settings.batch_size - queued, *(left.get(n, 0) for n in uses[row.id])])
        if most <= 0:
            continue
        wanted = await due_contacts.due_count(session, row.id, now, most)
        holding = held[row.id].holding if row.id in held else 0
        claimants.append(Claimant(row.id, row.priority, wanted, holding, uses[row.id]))
    for campaign_id, count in share_out(left, claimants).items():
        if count:
            contacts = await due_contacts.queue_due(session, campaign_id, now, count)
            if contacts:
                chosen.append((False, contacts))
    return chosen
