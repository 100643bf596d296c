"""The client and the simulator agree on the contract: each is the other's test partner."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from campaign_engine.simulator import Simulator, SimulatorConfig, create_app
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID, DEFAULT_SIP_CONNECTION_ID, SimAgent
from campaign_engine.vocobase.client import VocobaseClient
from campaign_engine.vocobase.errors import BadRequest, Forbidden, NotFound, RateLimited
from campaign_engine.vocobase.schemas import StartCallRequest

KEY = "rg_live_contract"


@pytest.fixture
async def pair() -> AsyncIterator[tuple[VocobaseClient, Simulator]]:
    config = SimulatorConfig(
        api_key=KEY,
        time_scale=0.001,
        seed=3,
        concurrency=1,
        calls_per_minute=3,
        allowed_providers=["mcube", "twilio"],
        configured_providers=["mcube"],
    )
    app = create_app(config)
    simulator: Simulator = app.state.simulator
    await simulator.start()
    client = VocobaseClient("http://simulator/api/v2", KEY, transport=httpx.ASGITransport(app=app))
    try:
        yield client, simulator
    finally:
        await client.aclose()
        await simulator.stop()


def _start(number: str = "+919876543210", **fields: str) -> StartCallRequest:
    return StartCallRequest(agent_id=DEFAULT_AGENT_ID, to_number=number, **fields)


async def test_client_reads_config_agent_and_concurrency_from_simulator(
    pair: tuple[VocobaseClient, Simulator],
) -> None:
    client, _ = pair
    config = await client.get_config()
    assert config.allows("TWILIO") and not config.is_configured("twilio")
    agent = await client.get_agent(DEFAULT_AGENT_ID)
    assert agent.agent_id == DEFAULT_AGENT_ID and agent.variables
    concurrency = await client.get_concurrency()
    assert (concurrency.limit, concurrency.active) == (1, 0)


async def test_started_call_is_listed_and_fetched_with_the_same_ids(
    pair: tuple[VocobaseClient, Simulator],
) -> None:
    client, simulator = pair
    started = await client.start_call(_start())
    listed = await client.list_calls(limit=10)
    assert [call.call_id for call in listed.calls] == [started.call_id]
    detail = await client.get_call(started.call_id)
    assert detail.session_id == started.session_id
    assert simulator.ledger.calls_to("+919876543210")[0].call_id == started.call_id


async def test_simulator_refusals_map_to_the_client_error_tree(
    pair: tuple[VocobaseClient, Simulator],
) -> None:
    client, _ = pair
    with pytest.raises(NotFound):
        await client.get_agent("00000000-0000-4000-8000-00000000dead")
    with pytest.raises(BadRequest) as not_configured:
        await client.start_call(_start(provider="twilio"))
    assert not not_configured.value.maybe_sent and not_configured.value.campaign_fatal
    with pytest.raises(Forbidden):
        await client.start_call(_start(provider="plivo"))


async def test_client_reads_connections_an_open_allow_list_and_an_uncapped_agent(
    pair: tuple[VocobaseClient, Simulator],
) -> None:
    client, simulator = pair
    connections = await client.list_connections()
    [sip] = connections.for_provider("SIP")
    assert (sip.connection_id, sip.active, sip.is_default) == (
        DEFAULT_SIP_CONNECTION_ID,
        True,
        True,
    )
    simulator.config.config_lists_allowed_providers = False
    simulator.config.agents = [
        SimAgent(agent_id=DEFAULT_AGENT_ID, name="Old", max_call_duration_secs=None)
    ]
    config = await client.get_config()
    assert config.allowed_telephony_providers is None
    assert not config.is_configured("sip")  # SIP lives in connections only
    assert (await client.get_agent(DEFAULT_AGENT_ID)).max_call_duration_secs is None


async def test_both_429s_are_rate_limited_errors_that_placed_nothing(
    pair: tuple[VocobaseClient, Simulator],
) -> None:
    """The docs give the two 429s one status and no documented wording, and by default the
    simulator words them alike: the client must not need the words to handle them."""
    client, simulator = pair
    await client.start_call(_start("+919876543210"))
    with pytest.raises(RateLimited) as busy:
        await client.start_call(_start("+919876543211"))
    with pytest.raises(RateLimited) as rate:
        for _ in range(3):
            await client.get_concurrency()
    for limited in (busy.value, rate.value):
        assert limited.status_code == 429
        assert not limited.maybe_sent and not limited.campaign_fatal
    assert (busy.value.code, busy.value.message) == (rate.value.code, rate.value.message)
    assert simulator.ledger.responses_429 == {"rate": 1, "concurrency": 1}
    assert len(simulator.ledger.calls) == 1
