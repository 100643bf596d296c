"""Checks on request bodies and query strings, answering 400 the way the API would.

Strict on purpose: the simulator is where engine bugs such as an undeclared variable or a
non-E.164 number should surface, before a real partner account meets them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from campaign_engine.simulator.envelope import ApiError
from campaign_engine.simulator.knobs import DOCUMENTED_PROVIDERS, E164_RE, UUID_RE, SimAgent

CALL_STATUSES: tuple[str, ...] = (
    "pending",
    "ringing",
    "in_progress",
    "completed",
    "failed",
    "no_answer",
    "busy",
    "canceled",
)
DEFAULT_PROVIDER = "mcube"


def invalid(message: str) -> ApiError:
    return ApiError(400, "VALIDATION_ERROR", message)


@dataclass(frozen=True)
class StartRequest:
    agent_id: str
    to_number: str
    provider: str
    variables: dict[str, Any]
    connection_id: str | None


def parse_start_body(raw: bytes) -> StartRequest:
    """The shape of a ``POST /calls/start`` body, before anything is looked up."""
    try:
        body = json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError):
        raise invalid("request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise invalid("request body must be a JSON object")

    agent_id = body.get("agent_id")
    if agent_id is None:
        raise invalid("agent_id is required")
    if not isinstance(agent_id, str) or not UUID_RE.match(agent_id):
        raise invalid("agent_id must be a UUID")

    to_number = body.get("to_number")
    if to_number is None:
        raise invalid("to_number is required")
    if not isinstance(to_number, str) or not E164_RE.match(to_number):
        raise invalid("to_number must be a phone number in E.164 format, e.g. +919876543210")

    provider = body.get("provider", DEFAULT_PROVIDER)
    if not isinstance(provider, str) or provider not in DOCUMENTED_PROVIDERS:
        raise invalid(f"provider must be one of: {', '.join(DOCUMENTED_PROVIDERS)}")

    variables = body.get("variables", {})
    if variables is None:
        variables = {}
    if not isinstance(variables, dict):
        raise invalid("variables must be an object of variable name to value")
    for key, value in variables.items():
        if isinstance(value, dict | list):
            raise invalid(f"variables.{key} must be a string, number, boolean or null")

    connection_id = body.get("connection_id")
    if connection_id is not None and (
        not isinstance(connection_id, str) or not UUID_RE.match(connection_id)
    ):
        raise invalid("connection_id must be a UUID")

    connection = connection_id.lower() if connection_id is not None else None
    return StartRequest(agent_id.lower(), to_number, provider, variables, connection)


def check_variables_declared(variables: Mapping[str, Any], agent: SimAgent) -> None:
    declared = set(agent.variables)
    for key in variables:
        if key not in declared:
            raise invalid(
                f"variable {key!r} is not declared on agent {agent.agent_id}; "
                f"declared: {sorted(declared)}"
            )


@dataclass(frozen=True)
class ListQuery:
    limit: int
    offset: int
    status: str | None


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"{name} must be an integer") from None
    if not low <= value <= high:
        raise invalid(f"{name} must be between {low} and {high}")
    return value


def parse_list_query(params: Mapping[str, str]) -> ListQuery:
    """The query of ``GET /calls``: ``limit`` 1-100 (default 10), ``offset``, ``status``
    (case-insensitive, as documented)."""
    limit = _int_param(params, "limit", 10, 1, 100)
    offset = _int_param(params, "offset", 0, 0, 2**31 - 1)
    status = params.get("status")
    if status is not None:
        status = status.lower()
    if status is not None and status not in CALL_STATUSES:
        raise invalid(f"status must be one of: {', '.join(CALL_STATUSES)}")
    return ListQuery(limit, offset, status)
