"""The simulator's strict checks on request bodies and query strings (400 VALIDATION_ERROR)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from campaign_engine.simulator.envelope import ApiError
from campaign_engine.simulator.knobs import DOCUMENTED_PROVIDERS, SimAgent
from campaign_engine.simulator.validation import (
    CALL_STATUSES,
    DEFAULT_PROVIDER,
    ListQuery,
    StartRequest,
    check_variables_declared,
    invalid,
    parse_list_query,
    parse_start_body,
)

AGENT = "00000000-0000-4000-8000-0000000000AA"
CONNECTION = "11111111-2222-4333-8444-55555555AAAA"


def body(**fields: Any) -> bytes:
    data: dict[str, Any] = {"agent_id": AGENT, "to_number": "+919876543210"}
    data.update(fields)
    return json.dumps({k: v for k, v in data.items() if v is not ...}).encode()


def refused(raw: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        parse_start_body(raw)
    return caught.value


def test_invalid_is_a_400_validation_error_with_the_message() -> None:
    error = invalid("nope")
    assert (error.status, error.code, error.message, error.headers) == (
        400,
        "VALIDATION_ERROR",
        "nope",
        {},
    )


def test_a_minimal_body_defaults_to_mcube_no_variables_and_no_connection() -> None:
    parsed = parse_start_body(body())
    assert parsed == StartRequest(AGENT.lower(), "+919876543210", "mcube", {}, None)
    assert DEFAULT_PROVIDER == "mcube"


def test_agent_and_connection_ids_are_lower_cased() -> None:
    parsed = parse_start_body(body(connection_id=CONNECTION, provider="twilio"))
    assert parsed.agent_id == AGENT.lower()
    assert parsed.connection_id == CONNECTION.lower()
    assert parsed.provider == "twilio"


@pytest.mark.parametrize("raw", [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"])
def test_a_body_that_is_not_a_json_object_is_refused(raw: bytes) -> None:
    error = refused(raw)
    assert (error.status, error.code) == (400, "VALIDATION_ERROR")
    assert error.message == "request body must be a JSON object"


def test_a_missing_agent_id_is_required() -> None:
    assert refused(body(agent_id=...)).message == "agent_id is required"


def test_an_agent_id_of_null_counts_as_missing() -> None:
    assert refused(body(agent_id=None)).message == "agent_id is required"


@pytest.mark.parametrize("agent_id", ["agent-1", 42, "00000000-0000-4000-8000-0000000000a"])
def test_an_agent_id_that_is_not_a_uuid_is_refused(agent_id: Any) -> None:
    assert refused(body(agent_id=agent_id)).message == "agent_id must be a UUID"


def test_a_missing_to_number_is_required() -> None:
    assert refused(body(to_number=...)).message == "to_number is required"


@pytest.mark.parametrize(
    "number", ["9876543210", "+0123456789", "+91 98765 43210", "+12345", "+1234567890123456", 91]
)
def test_a_to_number_not_in_e164_is_refused_with_an_example(number: Any) -> None:
    message = refused(body(to_number=number)).message
    assert message == "to_number must be a phone number in E.164 format, e.g. +919876543210"


@pytest.mark.parametrize("number", ["+1234567", "+123456789012345"])
def test_to_numbers_of_the_shortest_and_longest_e164_length_pass(number: str) -> None:
    assert parse_start_body(body(to_number=number)).to_number == number


@pytest.mark.parametrize("provider", DOCUMENTED_PROVIDERS)
def test_every_documented_provider_is_accepted(provider: str) -> None:
    assert parse_start_body(body(provider=provider)).provider == provider


@pytest.mark.parametrize("provider", ["MCUBE", "vonage", "", None, 1, ["mcube"]])
def test_an_undocumented_provider_is_refused_listing_the_documented_ones(provider: Any) -> None:
    message = refused(body(provider=provider)).message
    assert message == f"provider must be one of: {', '.join(DOCUMENTED_PROVIDERS)}"


def test_variables_of_null_are_no_variables() -> None:
    assert parse_start_body(body(variables=None)).variables == {}


def test_scalar_variables_are_kept_as_given() -> None:
    values = {"name": "Asha", "amount": 12.5, "count": 3, "vip": True, "note": None}
    assert parse_start_body(body(variables=values)).variables == values


@pytest.mark.parametrize("variables", [["name"], "name=Asha", 3])
def test_variables_that_are_not_an_object_are_refused(variables: Any) -> None:
    message = refused(body(variables=variables)).message
    assert message == "variables must be an object of variable name to value"


@pytest.mark.parametrize("value", [{"a": 1}, [1, 2]])
def test_a_nested_variable_value_is_refused_naming_the_variable(value: Any) -> None:
    message = refused(body(variables={"ok": "x", "bad": value})).message
    assert message == "variables.bad must be a string, number, boolean or null"


@pytest.mark.parametrize("connection_id", ["conn-1", 7, ""])
def test_a_connection_id_that_is_not_a_uuid_is_refused(connection_id: Any) -> None:
    assert refused(body(connection_id=connection_id)).message == "connection_id must be a UUID"


def test_the_first_problem_in_field_order_is_the_one_reported() -> None:
    raw = json.dumps({"agent_id": "x", "to_number": "y", "provider": "z"}).encode()
    assert refused(raw).message == "agent_id must be a UUID"


# --- check_variables_declared -----------------------------------------------------------


def agent(*variables: str) -> SimAgent:
    return SimAgent(agent_id=AGENT, name="test", variables=list(variables))


def test_declared_variables_pass() -> None:
    check_variables_declared({"name": "Asha", "city": "Pune"}, agent("name", "city", "extra"))
    check_variables_declared({}, agent())


def test_an_undeclared_variable_is_refused_listing_the_declared_ones() -> None:
    with pytest.raises(ApiError) as caught:
        check_variables_declared({"name": "A", "amount": 5}, agent("name", "city"))
    assert caught.value.status == 400
    assert caught.value.message == (
        f"variable 'amount' is not declared on agent {AGENT.lower()}; declared: ['city', 'name']"
    )


# --- parse_list_query -------------------------------------------------------------------


def test_an_empty_query_lists_ten_from_the_start_of_every_status() -> None:
    assert parse_list_query({}) == ListQuery(limit=10, offset=0, status=None)


def test_limit_offset_and_status_are_read() -> None:
    assert parse_list_query({"limit": "100", "offset": "20", "status": "no_answer"}) == ListQuery(
        100, 20, "no_answer"
    )


@pytest.mark.parametrize("status", ["COMPLETED", "In_Progress", "Busy"])
def test_status_is_case_insensitive_and_given_back_lower_cased(status: str) -> None:
    assert parse_list_query({"status": status}).status == status.lower()


def test_every_call_status_is_accepted() -> None:
    assert [parse_list_query({"status": s}).status for s in CALL_STATUSES] == list(CALL_STATUSES)


def test_an_unknown_status_is_refused_listing_the_known_ones() -> None:
    with pytest.raises(ApiError) as caught:
        parse_list_query({"status": "answered"})
    assert caught.value.message == f"status must be one of: {', '.join(CALL_STATUSES)}"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be between 1 and 100"),
        ({"limit": "101"}, "limit must be between 1 and 100"),
        ({"limit": "ten"}, "limit must be an integer"),
        ({"limit": "1.5"}, "limit must be an integer"),
        ({"offset": "-1"}, "offset must be between 0 and 2147483647"),
        ({"offset": str(2**31)}, "offset must be between 0 and 2147483647"),
        ({"offset": ""}, "offset must be an integer"),
    ],
)
def test_out_of_range_or_non_integer_paging_is_refused(
    params: dict[str, str], message: str
) -> None:
    with pytest.raises(ApiError) as caught:
        parse_list_query(params)
    assert (caught.value.status, caught.value.message) == (400, message)


def test_the_paging_bounds_themselves_are_accepted() -> None:
    assert parse_list_query({"limit": "1", "offset": str(2**31 - 1)}) == ListQuery(
        1, 2**31 - 1, None
    )
