"""Operator actions: create, start after checking Vocobase, pause/resume/cancel, status."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from campaign_engine.campaigns import service
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.service import CampaignError
from campaign_engine.contacts.store import insert_batch
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import CallAttempt, Contact, utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.simulator import create_app
from campaign_engine.vocobase.client import VocobaseClient
from campaign_engine.vocobase.errors import VocobaseError
from tests.dialer.support import (
    NUMBERS,
    campaign_of,
    contacts_of,
    events_of,
    open_runtime,
    rows,
    running_campaign,
)
from tests.harness import AGENT_ID, quick_policy, sim_config


@pytest.fixture
async def runtime(sqlite_url: str, redis_prefix: str) -> AsyncIterator[Runtime]:
    async with open_runtime(sqlite_url, redis_prefix) as opened:
        yield opened


@pytest.fixture
def knobs() -> dict[str, Any]:
    return {}


@pytest.fixture
async def vocobase(knobs: dict[str, Any]) -> AsyncIterator[VocobaseClient]:
    """A client talking to the simulator in-process (no socket)."""
    config = sim_config(**knobs)
    transport = httpx.ASGITransport(app=create_app(config))
    client = VocobaseClient("http://sim/api/v2", config.api_key, transport=transport)
    try:
        yield client
    finally:
        await client.aclose()


async def draft(runtime: Runtime, numbers: list[str], **fields: Any) -> str:
    async with runtime.sessions() as session, session.begin():
        fields.setdefault("agent_id", AGENT_ID)
        campaign = await service.create_campaign(session, name="test", **fields)
        await insert_batch(session, campaign.id, rows(numbers), due_at=utcnow())
    return campaign.id


async def start(runtime: Runtime, campaign_id: str, client: VocobaseClient | None) -> None:
    async with runtime.sessions() as session, session.begin():
        await service.start_campaign(session, campaign_id, client)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "  "}, "name must not be empty"),
        ({"agent_id": "agent-7"}, "agent id must be a UUID"),
        ({"provider": "skype"}, "unknown provider 'skype'"),
        ({"max_concurrent": 0}, "max concurrent must be a positive number"),
        ({"calls_per_minute": -1}, "calls per minute must be a positive number"),
        ({"default_region": "IND"}, "two-letter code"),
        ({"connection_id": "conn"}, "connection id must be a UUID"),
    ],
)
async def test_create_refuses_bad_fields_with_a_reason(
    runtime: Runtime, fields: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"name": "test", "agent_id": AGENT_ID, **fields}
    async with runtime.sessions() as session:
        with pytest.raises(CampaignError, match=message):
            await service.create_campaign(session, **arguments)


async def test_create_normalises_fields_and_stores_the_retry_policy(runtime: Runtime) -> None:
    policy = quick_policy(max_attempts=2)
    campaign_id = await draft(
        runtime,
        NUMBERS[:1],
        provider="TWILIO",
        default_region="in",
        agent_id=AGENT_ID.upper(),
        retry_policy=policy,
    )
    campaign = await campaign_of(runtime, campaign_id)
    assert (campaign.provider, campaign.default_region) == ("twilio", "IN")
    assert campaign.agent_id == AGENT_ID
    assert campaign.state == "draft"
    assert RetryPolicy.model_validate(campaign.retry_policy) == policy


async def test_create_without_a_policy_stores_the_default_one(runtime: Runtime) -> None:
    campaign = await campaign_of(runtime, await draft(runtime, NUMBERS[:1]))
    assert RetryPolicy.model_validate(campaign.retry_policy) == RetryPolicy()


async def test_start_learns_the_agents_contract_and_sets_the_campaign_running(
    runtime: Runtime, vocobase: VocobaseClient
) -> None:
    campaign_id = await draft(runtime, NUMBERS[:2])
    await start(runtime, campaign_id, vocobase)
    campaign = await campaign_of(runtime, campaign_id)
    assert campaign.state == "running"
    assert campaign.agent_variables == ["name", "ce_attempt_id"]
    assert campaign.max_call_seconds == 60
    assert campaign.started_at is not None
    (event,) = await events_of(runtime, campaign_id)
    assert (event.actor, event.to_state) == ("operator", "running")


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"allowed_providers": ["twilio", "plivo"]}, r"'mcube' is not allowed .*twilio, plivo"),
        ({"configured_providers": ["twilio"]}, "'mcube' is allowed but not configured"),
        ({"agents": []}, "not found"),
    ],
)
async def test_start_refuses_what_vocobase_would_refuse_and_stays_a_draft(
    runtime: Runtime, vocobase: VocobaseClient, message: str
) -> None:
    campaign_id = await draft(runtime, NUMBERS[:1])
    with pytest.raises((CampaignError, VocobaseError), match=message):
        await start(runtime, campaign_id, vocobase)
    assert (await campaign_of(runtime, campaign_id)).state == "draft"
    assert await events_of(runtime, campaign_id) == []


async def test_start_refuses_a_campaign_without_contacts(runtime: Runtime) -> None:
    campaign_id = await draft(runtime, [])
    with pytest.raises(CampaignError, match="has no contacts"):
        await start(runtime, campaign_id, None)


async def test_start_refuses_a_campaign_that_is_not_a_draft(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    with pytest.raises(CampaignError, match="is running; only a draft starts"):
        await start(runtime, campaign_id, None)


async def test_pause_and_resume_are_recorded_as_operator_moves(runtime: Runtime) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.pause(session, campaign_id, keys=runtime.keys, actor="bob")
    async with runtime.sessions() as session, session.begin():
        await campaign_moves.resume(session, campaign_id, actor="operator")
    moves = [(e.to_state, e.actor, e.reason) for e in await events_of(runtime, campaign_id)]
    assert moves[1:] == [("paused", "bob", "paused"), ("running", "operator", "resumed")]


async def test_cancel_cancels_the_campaign_and_contacts_not_final_nor_in_a_call(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:3])
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact).where(Contact.phone_e164 == NUMBERS[0]).values(state="calling")
        )
    async with runtime.sessions() as session, session.begin():
        assert (
            await campaign_moves.cancel(session, campaign_id, keys=runtime.keys, actor="tester")
        ).contacts_closed == 2
    assert (await campaign_of(runtime, campaign_id)).state == "canceled"
    assert [c.state for c in await contacts_of(runtime, campaign_id)] == [
        "calling",
        "canceled",
        "canceled",
    ]


async def test_status_counts_contacts_and_attempts_by_state_and_outcome(
    runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(runtime, NUMBERS[:3])
    first, second, _ = await contacts_of(runtime, campaign_id)
    async with runtime.sessions() as session, session.begin():
        await session.execute(
            update(Contact).where(Contact.id == first.id).values(state="completed")
        )
        await session.execute(
            update(Contact).where(Contact.id == second.id).values(state="retrying")
        )
        for contact, number, state, outcome in [
            (first, 1, "ended", "completed"),
            (second, 1, "ended", "busy"),
            (second, 2, "not_sent", None),
        ]:
            session.add(
                CallAttempt(
                    contact_id=contact.id,
                    campaign_id=campaign_id,
                    attempt_number=number,
                    state=state,
                    outcome=outcome,
                    provider="mcube",
                    to_number=contact.phone_e164,
                    deadline_at=utcnow(),
                )
            )
    async with runtime.sessions() as session:
        status = await service.campaign_status(session, campaign_id)

    assert status["state"] == "running"
    assert status["contacts"] == {
        "total": 3,
        "final": 1,
        "by_state": {"completed": 1, "retrying": 1, "pending": 1},
    }
    assert status["attempts"] == {
        "total": 3,
        "by_state": {"ended": 2, "not_sent": 1},
        "by_outcome": {"completed": 1, "busy": 1},
    }
    assert status["started_at"] is not None and status["finished_at"] is None


async def test_an_unknown_campaign_is_reported_by_id(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        with pytest.raises(CampaignError, match="campaign nope not found"):
            await service.campaign_status(session, "nope")


async def test_resume_refuses_a_draft_that_never_ran(runtime: Runtime) -> None:
    campaign_id = await draft(runtime, NUMBERS[:1])
    async with runtime.sessions() as session, session.begin():
        with pytest.raises(CampaignError, match="never run"):
            await campaign_moves.resume(session, campaign_id, actor="tester")
    assert (await campaign_of(runtime, campaign_id)).state == "draft"
