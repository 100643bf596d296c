"""The config validates every knob with a message that names it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from campaign_engine.simulator import SimAgent, SimulatorConfig
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID


def test_defaults_match_the_documented_limits() -> None:
    config = SimulatorConfig()
    assert (config.calls_per_minute, config.general_per_minute, config.concurrency) == (10, 60, 5)
    assert config.rate_window_seconds == 60
    assert config.webhook_retry_delays == [1, 2, 4]
    assert config.send_retry_after is False
    agent = config.agent(DEFAULT_AGENT_ID)
    assert agent is not None
    assert agent.variables == ["name", "due_amount", "ce_attempt_id"]
    assert agent.max_call_duration_secs == 600


@pytest.mark.parametrize(
    "field", ["p_5xx", "p_5xx_places_call", "p_slow", "p_drop_webhook", "p_duplicate_webhook"]
)
@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_probability_outside_unit_interval_is_rejected_naming_the_knob(
    field: str, value: float
) -> None:
    with pytest.raises(ValidationError, match=field):
        SimulatorConfig(**{field: value})


@pytest.mark.parametrize("field", ["time_scale", "slow_seconds"])
def test_negative_duration_is_rejected(field: str) -> None:
    with pytest.raises(ValidationError, match=f"{field} is a duration"):
        SimulatorConfig(**{field: -1})


def test_negative_retry_delay_is_rejected() -> None:
    with pytest.raises(ValidationError, match="webhook_retry_delays"):
        SimulatorConfig(webhook_retry_delays=[1, -2])


def test_outcome_mix_rejects_unknown_outcome() -> None:
    with pytest.raises(ValidationError, match="unknown outcomes"):
        SimulatorConfig(outcome_mix={"completed": 1, "hung_up": 1})


def test_outcome_mix_rejects_all_zero_weights() -> None:
    with pytest.raises(ValidationError, match="all be zero"):
        SimulatorConfig(outcome_mix={"completed": 0})


def test_outcome_mix_may_name_a_subset_of_outcomes() -> None:
    assert SimulatorConfig(outcome_mix={"busy": 1}).outcome_mix == {"busy": 1}


def test_ring_range_must_be_ordered() -> None:
    with pytest.raises(ValidationError, match="ring_seconds"):
        SimulatorConfig(ring_seconds=(5, 1))


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="concurrency is a limit"):
        SimulatorConfig(concurrency=0)


def test_knob_assignment_is_validated() -> None:
    config = SimulatorConfig()
    config.p_5xx = 0.5
    with pytest.raises(ValidationError, match="p_5xx"):
        config.p_5xx = 2


def test_agent_variable_names_follow_documented_pattern() -> None:
    with pytest.raises(ValidationError, match="must match"):
        SimAgent(agent_id=DEFAULT_AGENT_ID, name="a", variables=["1bad"])


def test_agent_id_must_be_a_uuid() -> None:
    with pytest.raises(ValidationError, match="UUID"):
        SimAgent(agent_id="agent-1", name="a")


def test_agents_must_have_distinct_ids() -> None:
    agent = SimAgent(agent_id=DEFAULT_AGENT_ID, name="a")
    with pytest.raises(ValidationError, match="distinct"):
        SimulatorConfig(agents=[agent, agent])


def test_providers_compare_case_insensitively() -> None:
    config = SimulatorConfig(allowed_providers=["SIP"], configured_providers=["sip"])
    assert config.provider_allowed("sip")
    assert config.provider_configured("SIP")
    assert not config.provider_allowed("twilio")


def test_webhook_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="http"):
        SimulatorConfig(webhook_url="ftp://example.com/hook")
