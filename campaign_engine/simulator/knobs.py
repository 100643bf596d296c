"""Knobs for the Vocobase simulator.

The real API is unreachable, so every behaviour the engine must survive — its documented
limits, its undocumented guesses ([assume] in the contract) and plain faults — is a field
here. The model validates on assignment so a test can turn a knob mid-run and still get a
clear error for a nonsensical value.
"""

from __future__ import annotations

import re
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

OUTCOMES: tuple[str, ...] = ("completed", "no_answer", "busy", "voicemail", "failed")
"""How a simulated call can end; ``voicemail`` is a completed call answered by a machine."""

DOCUMENTED_PROVIDERS: tuple[str, ...] = ("mcube", "twilio", "exotel", "plivo", "vobiz", "sip")
"""The ``provider`` enum of ``POST /calls/start`` (``voicelink`` is not in it)."""

DEFAULT_AGENT_ID = "00000000-0000-4000-8000-000000000001"

UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
E164_RE = re.compile(r"^\+[1-9]\d{6,14}$")
VARIABLE_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

_PROBABILITIES = (
    "p_5xx",
    "p_5xx_places_call",
    "p_slow",
    "p_drop_webhook",
    "p_duplicate_webhook",
)
_NON_NEGATIVE = ("time_scale", "slow_seconds")
_POSITIVE = ("webhook_timeout_seconds", "rate_window_seconds")


class SimAgent(BaseModel):
    """An agent as ``GET /agent/{id}`` describes it; only what the engine reads."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    agent_id: str
    name: str
    variables: list[str] = Field(default_factory=list)
    max_call_duration_secs: int = 600
    voicemail_detection_enabled: bool = True
    voicemail_message: str | None = None
    agent_type: str = "outbound"

    @field_validator("agent_id")
    @classmethod
    def _agent_id_is_uuid(cls, value: str) -> str:
        if not UUID_RE.match(value):
            raise ValueError(f"agent_id must be a UUID, got {value!r}")
        return value.lower()

    @field_validator("variables")
    @classmethod
    def _variables_are_names(cls, value: list[str]) -> list[str]:
        if len(value) > 100:
            raise ValueError(f"an agent declares at most 100 variables, got {len(value)}")
        for name in value:
            if not VARIABLE_NAME_RE.match(name):
                raise ValueError(f"variable name {name!r} must match {VARIABLE_NAME_RE.pattern}")
        if len(set(value)) != len(value):
            raise ValueError("variable names must be unique")
        return value

    @field_validator("max_call_duration_secs")
    @classmethod
    def _duration_in_documented_range(cls, value: int) -> int:
        if not 60 <= value <= 3600:
            raise ValueError(f"max_call_duration_secs must be within 60-3600, got {value}")
        return value

    def api_view(self) -> dict[str, Any]:
        """The ``data`` of ``GET /agent/{id}``."""
        return {
            "agent_id": self.agent_id,
            "name": self.name,
            "variables": list(self.variables),
            "voicemail_detection_enabled": self.voicemail_detection_enabled,
            "voicemail_message": self.voicemail_message,
            "max_call_duration_secs": self.max_call_duration_secs,
            "agent_type": self.agent_type,
        }


def _default_agents() -> list[SimAgent]:
    return [
        SimAgent(
            agent_id=DEFAULT_AGENT_ID,
            name="Demo agent",
            variables=["name", "due_amount", "ce_attempt_id"],
        )
    ]


class SimulatorConfig(BaseModel):
    """Everything the simulator does differently from run to run."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    api_key: str = "rg_live_simulator"
    agents: list[SimAgent] = Field(default_factory=_default_agents)
    allowed_providers: list[str] = Field(default_factory=lambda: list(DOCUMENTED_PROVIDERS))
    configured_providers: list[str] = Field(default_factory=lambda: list(DOCUMENTED_PROVIDERS))
    from_number: str = "+14155550100"

    calls_per_minute: int = 10
    general_per_minute: int = 60
    concurrency: int = 5
    rate_window_seconds: float = 60
    send_retry_after: bool = False

    time_scale: float = 1.0
    ring_seconds: tuple[float, float] = (2, 6)
    talk_seconds: tuple[float, float] = (10, 60)
    outcome_mix: dict[str, float] = Field(
        default_factory=lambda: {
            "completed": 60.0,
            "no_answer": 20.0,
            "busy": 10.0,
            "voicemail": 5.0,
            "failed": 5.0,
        }
    )
    expose_disposition: bool = True

    p_5xx: float = 0
    p_5xx_places_call: float = 0.5
    p_slow: float = 0
    slow_seconds: float = 15

    p_drop_webhook: float = 0
    p_duplicate_webhook: float = 0
    webhook_url: str | None = None
    webhook_secret: str = "whsec_simulator"
    # Undocumented: whether Vocobase keys the HMAC with the whole whsec_ secret or the part
    # after the prefix. The engine must accept either.
    webhook_key_form: Literal["as_given", "without_prefix"] = "as_given"
    webhook_retry_delays: list[float] = Field(default_factory=lambda: [1.0, 2.0, 4.0])
    webhook_timeout_seconds: float = 10
    early_webhook: bool = False

    seed: int | None = None

    @field_validator(*_PROBABILITIES)
    @classmethod
    def _is_probability(cls, value: float, info: ValidationInfo) -> float:
        if not 0 <= value <= 1:
            raise ValueError(f"{info.field_name} is a probability and must be within [0, 1]")
        return value

    @field_validator(*_NON_NEGATIVE)
    @classmethod
    def _is_non_negative(cls, value: float, info: ValidationInfo) -> float:
        if value < 0:
            raise ValueError(f"{info.field_name} is a duration and must be >= 0")
        return value

    @field_validator(*_POSITIVE)
    @classmethod
    def _is_positive(cls, value: float, info: ValidationInfo) -> float:
        if value <= 0:
            raise ValueError(f"{info.field_name} must be > 0")
        return value

    @field_validator("calls_per_minute", "general_per_minute", "concurrency")
    @classmethod
    def _is_limit(cls, value: int, info: ValidationInfo) -> int:
        if value < 1:
            raise ValueError(f"{info.field_name} is a limit and must be >= 1")
        return value

    @field_validator("ring_seconds", "talk_seconds")
    @classmethod
    def _is_range(cls, value: tuple[float, float], info: ValidationInfo) -> tuple[float, float]:
        low, high = value
        if low < 0 or high < low:
            raise ValueError(f"{info.field_name} must be (low, high) with 0 <= low <= high")
        return value

    @field_validator("webhook_retry_delays")
    @classmethod
    def _delays_non_negative(cls, value: list[float]) -> list[float]:
        if any(delay < 0 for delay in value):
            raise ValueError("webhook_retry_delays are durations and must all be >= 0")
        return value

    @field_validator("outcome_mix")
    @classmethod
    def _mix_is_weights(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(OUTCOMES))
        if unknown:
            raise ValueError(f"outcome_mix has unknown outcomes {unknown}; allowed: {OUTCOMES}")
        if any(weight < 0 for weight in value.values()):
            raise ValueError("outcome_mix weights must be >= 0")
        if sum(value.values()) <= 0:
            raise ValueError("outcome_mix weights must not all be zero")
        return value

    @field_validator("from_number")
    @classmethod
    def _from_number_is_e164(cls, value: str) -> str:
        if not E164_RE.match(value):
            raise ValueError(f"from_number must be E.164, got {value!r}")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"webhook_url must be an http(s) URL, got {value!r}")
        return value

    @field_validator("api_key", "webhook_secret")
    @classmethod
    def _not_empty(cls, value: str, info: ValidationInfo) -> str:
        if not value:
            raise ValueError(f"{info.field_name} must not be empty")
        return value

    @model_validator(mode="after")
    def _agents_unique(self) -> Self:
        ids = [agent.agent_id for agent in self.agents]
        if len(set(ids)) != len(ids):
            raise ValueError("agents must have distinct agent_id values")
        return self

    def agent(self, agent_id: str) -> SimAgent | None:
        """The agent with ``agent_id`` (UUIDs compare case-insensitively), if any."""
        wanted = agent_id.lower()
        return next((a for a in self.agents if a.agent_id == wanted), None)

    def provider_allowed(self, provider: str) -> bool:
        """Providers compare case-insensitively: the docs spell SIP both ways."""
        return provider.lower() in {p.lower() for p in self.allowed_providers}

    def provider_configured(self, provider: str) -> bool:
        return provider.lower() in {p.lower() for p in self.configured_providers}

    def telephony_view(self) -> dict[str, Any]:
        """The ``data`` of ``GET /config``: configured providers carry the from-number."""
        names = dict.fromkeys([*self.allowed_providers, *self.configured_providers])
        telephony = {}
        for name in names:
            configured = self.provider_configured(name)
            telephony[name] = {
                "configured": configured,
                "from_number": self.from_number if configured else None,
            }
        return {"allowed_telephony_providers": list(self.allowed_providers), "telephony": telephony}
