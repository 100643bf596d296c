"""Which telephony set-up a start goes through, and how it is refused when there is none."""

from __future__ import annotations

import pytest

from campaign_engine.simulator import SimConnection, SimulatorConfig
from campaign_engine.simulator.envelope import ApiError
from campaign_engine.simulator.knobs import DEFAULT_SIP_CONNECTION_ID
from campaign_engine.simulator.telephony import connection_for

TRUNK_A = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"
TRUNK_B = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"
OFF = "cccccccc-cccc-4ccc-8ccc-cccccccccccc"


def refusal(config: SimulatorConfig, provider: str, connection_id: str | None) -> ApiError:
    with pytest.raises(ApiError) as caught:
        connection_for(config, provider, connection_id)
    return caught.value


def test_configured_provider_uses_its_credentials() -> None:
    assert connection_for(SimulatorConfig(), "twilio", None) is None


def test_sip_goes_through_the_default_connection() -> None:
    connection = connection_for(SimulatorConfig(), "SIP", None)
    assert connection is not None and connection.connection_id == DEFAULT_SIP_CONNECTION_ID


def test_a_named_connection_must_exist_be_active_and_match_the_provider() -> None:
    config = SimulatorConfig(
        connections=[
            SimConnection(connection_id=TRUNK_A, provider="plivo"),
            SimConnection(connection_id=OFF, provider="plivo", status="inactive"),
        ]
    )
    chosen = connection_for(config, "plivo", TRUNK_A)
    assert chosen is not None and chosen.connection_id == TRUNK_A
    missing = refusal(config, "plivo", TRUNK_B)
    assert (missing.status, missing.code) == (404, "NOT_FOUND")
    inactive = refusal(config, "plivo", OFF)
    assert (inactive.status, inactive.code) == (400, "VALIDATION_ERROR")
    assert "inactive" in inactive.message
    other = refusal(config, "twilio", TRUNK_A)
    assert (other.status, other.code) == (400, "VALIDATION_ERROR")
    assert "plivo connection" in other.message


def test_several_active_connections_need_a_connection_id_even_with_a_default() -> None:
    config = SimulatorConfig(
        connections=[
            SimConnection(connection_id=TRUNK_A, provider="sip", is_default=True),
            SimConnection(connection_id=TRUNK_B, provider="sip"),
        ]
    )
    error = refusal(config, "sip", None)
    assert (error.status, error.code) == (400, "VALIDATION_ERROR")
    assert "connection_id is required" in error.message


def test_provider_with_neither_credentials_nor_connection_is_not_configured() -> None:
    config = SimulatorConfig(configured_providers=["mcube"], connections=[])
    error = refusal(config, "sip", None)
    assert (error.status, error.code) == (400, "VALIDATION_ERROR")
    assert "provider not configured" in error.message
    inactive_only = SimulatorConfig(
        configured_providers=[], connections=[SimConnection(provider="sip", status="inactive")]
    )
    assert "provider not configured" in refusal(inactive_only, "sip", None).message
