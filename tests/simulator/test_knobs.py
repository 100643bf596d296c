"""The config validates every knob with a message that names it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from campaign_engine.simulator import SimAgent, SimulatorConfig
from campaign_engine.simulator.knobs import DEFAULT_AGENT_ID, SimConnection


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


def test_undocumented_choices_default_to_the_inconvenient_side() -> None:
    config = SimulatorConfig()
    assert config.processing_seconds == (5, 30)
    assert config.expose_disposition is False
    assert config.list_order == "unordered"
    assert config.distinct_429s is False
    assert config.clock_skew_seconds == 0
    assert config.config_lists_allowed_providers is True  # documented on the config page
    assert "sip" not in config.configured_providers
    assert [(c.provider, c.status) for c in config.connections] == [("sip", "active")]
    assert "voicelink" in config.allowed_providers
    assert config.outcome_mix["user_hangup_no_speech"] > 0


@pytest.mark.parametrize(
    "outcome",
    ["completed", "voicemail", "user_hangup_no_speech", "no_answer", "busy", "canceled",
     "blocked", "failed"],
)  # fmt: skip
def test_outcome_mix_accepts_every_documented_disposition(outcome: str) -> None:
    assert SimulatorConfig(outcome_mix={outcome: 1}).outcome_mix == {outcome: 1}


def test_processing_range_must_be_ordered_and_non_negative() -> None:
    with pytest.raises(ValidationError, match="processing_seconds"):
        SimulatorConfig(processing_seconds=(30, 5))
    with pytest.raises(ValidationError, match="processing_seconds"):
        SimulatorConfig(processing_seconds=(-1, 5))
    assert SimulatorConfig(processing_seconds=(0, 0)).processing_seconds == (0, 0)


def test_list_order_names_its_choices() -> None:
    with pytest.raises(ValidationError, match="list_order"):
        SimulatorConfig(list_order="random")


def test_clock_skew_may_be_either_sign_but_finite() -> None:
    assert SimulatorConfig(clock_skew_seconds=-90).clock_skew_seconds == -90
    assert SimulatorConfig(clock_skew_seconds=45.5).clock_skew_seconds == 45.5
    with pytest.raises(ValidationError, match="clock_skew_seconds"):
        SimulatorConfig(clock_skew_seconds=float("nan"))


def test_agent_duration_cap_may_be_none_or_within_the_documented_range() -> None:
    assert SimAgent(agent_id=DEFAULT_AGENT_ID, name="a", max_call_duration_secs=None)
    for bad in (59, 3601):
        with pytest.raises(ValidationError, match="60-3600 or None"):
            SimAgent(agent_id=DEFAULT_AGENT_ID, name="a", max_call_duration_secs=bad)


def test_sip_cannot_be_configured_with_credentials() -> None:
    with pytest.raises(ValidationError, match="configured_providers cannot name"):
        SimulatorConfig(configured_providers=["twilio", "SIP"])


def test_unknown_provider_is_rejected_naming_the_knob() -> None:
    with pytest.raises(ValidationError, match="allowed_providers has unknown providers"):
        SimulatorConfig(allowed_providers=["telnyx"])
    with pytest.raises(ValidationError, match="connection provider"):
        SimConnection(provider="telnyx")


def test_connections_are_validated() -> None:
    with pytest.raises(ValidationError, match="connection_id must be a UUID"):
        SimConnection(connection_id="conn-1", provider="sip")
    with pytest.raises(ValidationError, match=r"E\.164"):
        SimConnection(provider="sip", phone_numbers=["4155550100"])
    with pytest.raises(ValidationError, match="status"):
        SimConnection(provider="sip", status="paused")
    twin = SimConnection(provider="sip")
    with pytest.raises(ValidationError, match="distinct connection_id"):
        SimulatorConfig(connections=[twin, twin])


def test_without_a_listed_allow_list_what_is_set_up_is_allowed() -> None:
    config = SimulatorConfig(
        config_lists_allowed_providers=False, allowed_providers=[], configured_providers=["plivo"]
    )
    assert config.provider_allowed("plivo") and config.provider_allowed("SIP")
    assert not config.provider_allowed("twilio")
    assert "allowed_telephony_providers" not in config.telephony_view()


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
    config = SimulatorConfig(allowed_providers=["SIP"], configured_providers=["Twilio"])
    assert config.provider_allowed("sip")
    assert config.provider_configured("twilio")
    assert not config.provider_allowed("twilio")
    assert config.provider_usable("Sip")  # through the default connection


def test_webhook_url_must_be_http() -> None:
    with pytest.raises(ValidationError, match="http"):
        SimulatorConfig(webhook_url="ftp://example.com/hook")
