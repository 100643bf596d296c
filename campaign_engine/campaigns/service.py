"""Operator actions on campaigns: create, start (after checking Vocobase), schedule, status.

Pause, resume and cancel are :mod:`campaign_engine.control.campaign_moves` (audited).

Starting checks, once, what would otherwise fail every call: the provider is allowed and
configured for the partner, and the agent exists. What the agent declares (its variables,
its maximum call duration) is stored with the campaign, so workers need not ask again.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.lifecycle import is_recurring, transition
from campaign_engine.campaigns.replan import replan_waiting
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.schedule import Schedule, from_json
from campaign_engine.config import PROVIDERS
from campaign_engine.db.models import CallAttempt, Campaign, Contact, utcnow
from campaign_engine.states import CAMPAIGN_TERMINAL, CONTACT_FINAL, CampaignState
from campaign_engine.vocobase.client import VocobaseClient
from campaign_engine.vocobase.errors import APIError, NotFound
from campaign_engine.vocobase.schemas import ConnectionList

OPERATOR = "operator"
# The slot deadline of an agent with no call duration cap (limits.uncapped_call_seconds).
UNCAPPED_CALL = 3600


class CampaignError(Exception):
    """An operator request that cannot be done; the message says why."""


def _check_uuid(value: str, what: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise CampaignError(f"{what} must be a UUID, got {value!r}") from None


async def create_campaign(
    session: AsyncSession,
    *,
    name: str,
    agent_id: str,
    provider: str = "mcube",
    connection_id: str | None = None,
    max_concurrent: int | None = None,
    calls_per_minute: int | None = None,
    default_region: str | None = None,
    retry_policy: RetryPolicy | None = None,
    schedule: Schedule | None = None,
) -> Campaign:
    if not name.strip():
        raise CampaignError("campaign name must not be empty")
    if provider.lower() not in PROVIDERS:
        raise CampaignError(
            f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}"
        )
    for value, what in ((max_concurrent, "max concurrent"), (calls_per_minute, "calls per minute")):
        if value is not None and value <= 0:
            raise CampaignError(f"{what} must be a positive number, got {value}")
    if default_region is not None and (len(default_region) != 2 or not default_region.isalpha()):
        raise CampaignError(f"default region must be a two-letter code, got {default_region!r}")
    campaign = Campaign(
        name=name.strip(),
        agent_id=_check_uuid(agent_id, "agent id"),
        provider=provider.lower(),
        connection_id=_check_uuid(connection_id, "connection id") if connection_id else None,
        max_concurrent=max_concurrent,
        calls_per_minute=calls_per_minute,
        default_region=default_region.upper() if default_region else None,
        retry_policy=(retry_policy or RetryPolicy()).model_dump(mode="json"),
        schedule=schedule.to_json() if schedule is not None else None,
        state=CampaignState.DRAFT.value,
    )
    session.add(campaign)
    await session.flush()
    return campaign


async def get_campaign(session: AsyncSession, campaign_id: str) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise CampaignError(f"campaign {campaign_id} not found")
    return campaign


async def check_with_vocobase(
    campaign: Campaign, client: VocobaseClient, *, uncapped_call_seconds: int = UNCAPPED_CALL
) -> None:
    """Learn the agent's contract and refuse to start what Vocobase would refuse.

    A provider is usable when ``/config`` shows it configured, or when the partner has an
    active telephony connection for it (SIP is set up only that way). A campaign's
    ``connection_id`` must name an active connection of its provider. An agent with no
    duration cap holds its slots for at most ``uncapped_call_seconds``.
    """
    config = await client.get_config()
    provider = campaign.provider
    if not config.allows(provider):
        allowed = ", ".join(config.allowed_telephony_providers or []) or "none"
        raise CampaignError(
            f"provider {provider!r} is not allowed for this partner (allowed: {allowed})"
        )
    configured = config.is_configured(provider)
    if campaign.connection_id or not configured:
        connections = await _connections(client)
        if campaign.connection_id:
            _check_connection(campaign.connection_id, provider, connections)
        elif not any(c.active for c in connections.for_provider(provider)):
            raise CampaignError(
                f"provider {provider!r} is allowed but not configured (GET /config) nor set "
                "up as an active telephony connection (GET /telephony/connections)"
            )
    agent = await client.get_agent(campaign.agent_id)
    campaign.agent_variables = list(agent.variables)
    campaign.max_call_seconds = agent.max_call_duration_secs or uncapped_call_seconds


async def _connections(client: VocobaseClient) -> ConnectionList:
    """The partner's telephony connections; none when the API has no such route for it
    (404, 405, 501): then only ``/config`` can say a provider is set up."""
    try:
        return await client.list_connections()
    except APIError as exc:
        if isinstance(exc, NotFound) or exc.status_code in (405, 501):
            return ConnectionList()
        raise


def _check_connection(connection_id: str, provider: str, connections: ConnectionList) -> None:
    wanted = connection_id.lower()
    found = next((c for c in connections.connections if c.connection_id.lower() == wanted), None)
    if found is None:
        known = ", ".join(c.connection_id for c in connections.for_provider(provider)) or "none"
        raise CampaignError(
            f"connection {connection_id} is not one of this partner's telephony connections "
            f"({provider} connections: {known})"
        )
    if found.provider.lower() != provider.lower():
        raise CampaignError(
            f"connection {connection_id} is a {found.provider or 'unknown'} connection, "
            f"not {provider}"
        )
    if not found.active:
        raise CampaignError(f"connection {connection_id} is {found.status or 'not active'}")


async def start_campaign(
    session: AsyncSession,
    campaign_id: str,
    client: VocobaseClient | None,
    *,
    actor: str = OPERATOR,
    now: datetime | None = None,
    uncapped_call_seconds: int = UNCAPPED_CALL,
) -> Campaign:
    """Check with Vocobase (when a client is given) and set the campaign running — or
    ``scheduled`` when its schedule starts later. Its waiting contacts are placed at their
    first allowed moments."""
    now = now or utcnow()
    campaign = await get_campaign(session, campaign_id)
    if campaign.state not in (CampaignState.DRAFT.value, CampaignState.SCHEDULED.value):
        raise CampaignError(f"campaign {campaign_id} is {campaign.state}; only a draft starts")
    total = await session.scalar(
        select(func.count()).select_from(Contact).where(Contact.campaign_id == campaign_id)
    )
    if not total and not await is_recurring(session, campaign_id):
        # A recurring campaign (a saved source) may start empty and wait for its first pull.
        raise CampaignError(f"campaign {campaign_id} has no contacts; import some first")
    schedule = from_json(campaign.schedule)
    ends = schedule.ends_at() if schedule else None
    if ends is not None and ends <= now:
        raise CampaignError(
            f"campaign {campaign_id}'s schedule ended at {ends.isoformat()}; "
            "set a new one with `campaign schedule`"
        )
    if client is not None:
        await check_with_vocobase(campaign, client, uncapped_call_seconds=uncapped_call_seconds)
    starts = schedule.starts_at() if schedule else None
    if starts is not None and starts > now:
        target, reason = CampaignState.SCHEDULED, f"starts at {starts.isoformat()}"
    else:
        target, reason = CampaignState.RUNNING, "started"
    started = await transition(session, campaign_id, target, actor=actor, reason=reason)
    if schedule is not None:
        await replan_waiting(session, campaign_id, now)
    return started


async def set_schedule(
    session: AsyncSession,
    campaign_id: str,
    schedule: Schedule | None,
    *,
    now: datetime | None = None,
) -> int:
    """Change (or clear) the schedule; waiting contacts move to their new allowed moments.

    Returns how many contacts moved. Queued ones are checked again by the pre-dial gate.
    """
    campaign = await get_campaign(session, campaign_id)
    if CampaignState(campaign.state) in CAMPAIGN_TERMINAL:
        raise CampaignError(f"campaign {campaign_id} is {campaign.state}; its schedule is final")
    campaign.schedule = schedule.to_json() if schedule is not None else None
    await session.flush()
    if campaign.state == CampaignState.DRAFT.value:
        return 0  # placed when it starts
    return await replan_waiting(session, campaign_id, now or utcnow())


async def campaign_status(session: AsyncSession, campaign_id: str) -> dict[str, Any]:
    """One JSON-able picture of a campaign's progress."""
    campaign = await get_campaign(session, campaign_id)
    by_state = dict(
        (
            await session.execute(
                select(Contact.state, func.count())
                .where(Contact.campaign_id == campaign_id)
                .group_by(Contact.state)
            )
        ).all()
    )
    by_outcome = dict(
        (
            await session.execute(
                select(CallAttempt.outcome, func.count())
                .where(CallAttempt.campaign_id == campaign_id, CallAttempt.outcome.is_not(None))
                .group_by(CallAttempt.outcome)
            )
        ).all()
    )
    attempts_by_state = dict(
        (
            await session.execute(
                select(CallAttempt.state, func.count())
                .where(CallAttempt.campaign_id == campaign_id)
                .group_by(CallAttempt.state)
            )
        ).all()
    )
    final = sum(count for state, count in by_state.items() if state in CONTACT_FINAL)
    return {
        "id": campaign.id,
        "name": campaign.name,
        "state": campaign.state,
        "state_reason": campaign.state_reason,
        "agent_id": campaign.agent_id,
        "provider": campaign.provider,
        "contacts": {"total": sum(by_state.values()), "final": final, "by_state": by_state},
        "attempts": {
            "total": sum(attempts_by_state.values()),
            "by_state": attempts_by_state,
            "by_outcome": by_outcome,
        },
        "created_at": campaign.created_at.isoformat(),
        "started_at": campaign.started_at.isoformat() if campaign.started_at else None,
        "finished_at": campaign.finished_at.isoformat() if campaign.finished_at else None,
    }
