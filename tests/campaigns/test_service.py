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
    rows,
    running_campaign,
)
from tests.harness import AGENT_ID, quick_policy, sim_config


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
    sqlite_runtime: Runtime, fields: dict[str, Any], message: str
) -> None:
    arguments: dict[str, Any] = {"name": "test", "agent_id": AGENT_ID, **fields}
    async with sqlite_runtime.sessions() as session:
        with pytest.raises(CampaignError, match=message):
            await service.create_campaign(session, **arguments)


async def test_create_normalises_fields_and_stores_the_retry_policy(
    sqlite_runtime: Runtime,
) -> None:
    policy = quick_policy(max_attempts=2)
    campaign_id = await draft(
        sqlite_runtime,
        NUMBERS[:1],
        provider="TWILIO",
        default_region="in",
        agent_id=AGENT_ID.upper(),
        retry_policy=policy,
    )
    campaign = await campaign_of(sqlite_runtime, campaign_id)
    assert (campaign.provider, campaign.default_region) == ("twilio", "IN")
    assert campaign.agent_id == AGENT_ID
    assert campaign.state == "draft"
    assert RetryPolicy.model_validate(campaign.retry_policy) == policy


async def test_create_without_a_policy_stores_the_default_one(sqlite_runtime: Runtime) -> None:
    campaign = await campaign_of(sqlite_runtime, await draft(sqlite_runtime, NUMBERS[:1]))
    assert RetryPolicy.model_validate(campaign.retry_policy) == RetryPolicy()


async def test_start_learns_the_agents_contract_and_sets_the_campaign_running(
    sqlite_runtime: Runtime, vocobase: VocobaseClient
) -> None:
    campaign_id = await draft(sqlite_runtime, NUMBERS[:2])
    await start(sqlite_runtime, campaign_id, vocobase)
    campaign = await campaign_of(sqlite_runtime, campaign_id)
    assert campaign.state == "running"
    assert campaign.agent_variables == ["name", "ce_attempt_id"]
    assert campaign.max_call_seconds == 60
    assert campaign.started_at is not None
    (event,) = await events_of(sqlite_runtime, campaign_id)
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
    sqlite_runtime: Runtime, vocobase: VocobaseClient, message: str
) -> None:
    campaign_id = await draft(sqlite_runtime, NUMBERS[:1])
    with pytest.raises((CampaignError, VocobaseError), match=message):
        await start(sqlite_runtime, campaign_id, vocobase)
    assert (await campaign_of(sqlite_runtime, campaign_id)).state == "draft"
    assert await events_of(sqlite_runtime, campaign_id) == []


async def test_start_refuses_a_campaign_without_contacts(sqlite_runtime: Runtime) -> None:
    campaign_id = await draft(sqlite_runtime, [])
    with pytest.raises(CampaignError, match="has no contacts"):
        await start(sqlite_runtime, campaign_id, None)


async def test_start_refuses_a_campaign_that_is_not_a_draft(sqlite_runtime: Runtime) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:1])
    with pytest.raises(CampaignError, match="is running; only a draft starts"):
        await start(sqlite_runtime, campaign_id, None)


async def test_status_counts_contacts_and_attempts_by_state_and_outcome(
    sqlite_runtime: Runtime,
) -> None:
    campaign_id = await running_campaign(sqlite_runtime, NUMBERS[:3])
    first, second, _ = await contacts_of(sqlite_runtime, campaign_id)
    async with sqlite_runtime.sessions() as session, session.begin():
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
    async with sqlite_runtime.sessions() as session:
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


async def test_an_unknown_campaign_is_reported_by_id(sqlite_runtime: Runtime) -> None:
    async with sqlite_runtime.sessions() as session:
        with pytest.raises(CampaignError, match="campaign nope not found"):
            await service.campaign_status(session, "nope")


SIP_CONNECTION = "7f1c1e0a-3b7e-4d52-9a61-2f8d3c4b5a61"


def documented_vocobase(
    config: dict[str, Any], connections: list[dict[str, Any]] | None, agent: dict[str, Any]
) -> VocobaseClient:
    """A Vocobase answering ``/config``, ``/telephony/connections`` (404 when ``None``) and
    ``/agent/{id}`` with the documented shapes given."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v2")
        if path == "/config":
            return httpx.Response(200, json={"success": True, "data": config})
        if path == "/telephony/connections" and connections is not None:
            return httpx.Response(200, json={"success": True, "data": connections})
        if path.startswith("/agent/"):
            return httpx.Response(200, json={"success": True, "data": agent})
        error = {"code": "NOT_FOUND", "message": "not found"}
        return httpx.Response(404, json={"success": False, "error": error})

    return VocobaseClient("http://api/api/v2", "rg_live_x", transport=httpx.MockTransport(answer))


AGENT = {"agent_id": AGENT_ID, "variables": ["name"], "max_call_duration_secs": 300}
SIP_ONLY = {"allowed_telephony_providers": ["sip", "twilio"], "telephony": {}}


async def start_with(runtime: Runtime, client: VocobaseClient, **fields: Any) -> tuple[str, Any]:
    campaign_id = await draft(runtime, NUMBERS[:1], **fields)
    try:
        async with runtime.sessions() as session, session.begin():
            await service.start_campaign(session, campaign_id, client, uncapped_call_seconds=5400)
    finally:
        await client.aclose()
    return campaign_id, await campaign_of(runtime, campaign_id)


async def test_start_accepts_a_sip_partner_set_up_only_through_a_connection(
    sqlite_runtime: Runtime,
) -> None:
    """SIP has no PUT /config/telephony route: a partner using connections may show no
    ``configured`` entry for it, and is still able to call."""
    active = {"connection_id": SIP_CONNECTION, "provider": "sip", "status": "active"}
    client = documented_vocobase(SIP_ONLY, [active], AGENT)
    _, campaign = await start_with(sqlite_runtime, client, provider="sip")
    assert campaign.state == "running"


async def test_start_validates_the_campaigns_connection_against_the_partners(
    sqlite_runtime: Runtime,
) -> None:
    inactive = {"connection_id": SIP_CONNECTION, "provider": "sip", "status": "inactive"}
    other = "0b7d9c3e-1111-4a2b-8c3d-4e5f6a7b8c9d"
    for connections, connection_id, message in (
        ([inactive], SIP_CONNECTION, "is inactive"),
        ([inactive], other, f"connection {other} is not one of .*{SIP_CONNECTION}"),
        ([{**inactive, "provider": "twilio", "status": "active"}], SIP_CONNECTION, "not sip"),
    ):
        client = documented_vocobase(SIP_ONLY, connections, AGENT)
        with pytest.raises(CampaignError, match=message):
            await start_with(sqlite_runtime, client, provider="sip", connection_id=connection_id)


async def test_start_takes_a_partner_api_without_a_connections_route_as_having_none(
    sqlite_runtime: Runtime,
) -> None:
    """An API that answers 405 for GET /telephony/connections has none to show: a provider
    /config calls configured still starts; one it does not is refused with the reason."""

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/v2")
        if path == "/config":
            data = {"telephony": {"mcube": {"configured": True}}}
            return httpx.Response(200, json={"success": True, "data": data})
        if path.startswith("/agent/"):
            return httpx.Response(200, json={"success": True, "data": AGENT})
        error = {"code": "METHOD_NOT_ALLOWED", "message": "no"}
        return httpx.Response(405, json={"success": False, "error": error})

    def client() -> VocobaseClient:
        transport = httpx.MockTransport(answer)
        return VocobaseClient("http://api/api/v2", "rg_live_x", transport=transport)

    _, campaign = await start_with(sqlite_runtime, client())
    assert campaign.state == "running"
    with pytest.raises(CampaignError, match="'sip' is allowed but not configured"):
        await start_with(sqlite_runtime, client(), provider="sip")


async def test_start_refuses_a_provider_neither_configured_nor_connected(
    sqlite_runtime: Runtime,
) -> None:
    for connections in (None, []):  # no such route for this partner, or no connection
        client = documented_vocobase(SIP_ONLY, connections, AGENT)
        with pytest.raises(CampaignError, match="'sip' is allowed but not configured"):
            await start_with(sqlite_runtime, client, provider="sip")


async def test_start_accepts_a_config_without_a_list_of_allowed_providers(
    sqlite_runtime: Runtime,
) -> None:
    """The onboarding page's ``/config`` example has no ``allowed_telephony_providers``."""
    config = {"telephony": {"mcube": {"configured": True, "from_number": "+14155550100"}}}
    client = documented_vocobase(config, None, AGENT)
    _, campaign = await start_with(sqlite_runtime, client)
    assert (campaign.state, campaign.max_call_seconds) == ("running", 300)


async def test_an_agent_without_a_duration_cap_holds_slots_up_to_the_configured_ceiling(
    sqlite_runtime: Runtime,
) -> None:
    """``max_call_duration_secs: null`` means no cap (not 600): the slot deadline comes from
    ``limits.uncapped_call_seconds``; an absent value is the documented default of 600."""
    config = {"telephony": {"mcube": {"configured": True}}}
    uncapped = documented_vocobase(config, None, {**AGENT, "max_call_duration_secs": None})
    _, campaign = await start_with(sqlite_runtime, uncapped)
    assert campaign.max_call_seconds == 5400
    default = {k: v for k, v in AGENT.items() if k != "max_call_duration_secs"}
    _, campaign = await start_with(sqlite_runtime, documented_vocobase(config, None, default))
    assert campaign.max_call_seconds == 600
