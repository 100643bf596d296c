"""Knobs for the Vocobase simulator.

The real API is unreachable, so every behaviour the engine must survive — its documented
limits, its undocumented guesses ([assume] in the contract) and plain faults — is a field
here. The model validates on assignment so a test can turn a knob mid-run and still get a
clear error for a nonsensical value.

The defaults are the documented behaviour; where the docs are silent, the default is the
inconvenient side (the one an engine built against a flattering fake would trip on), and
the knob can be turned both ways:

- ``processing_seconds`` — post-call processing before ``session.completed`` (docs: the
  webhook waits for it; how long is undocumented).
- ``expose_disposition`` — ``GET /calls/{id}`` carries ``disposition``/``answered_by``
  (undocumented; default no).
- ``list_order`` — the order of ``GET /calls`` (undocumented; default a stable shuffle).
- ``distinct_429s`` — the two 429s worded apart (undocumented; default one opaque body).
- ``config_lists_allowed_providers`` — ``/config`` has ``allowed_telephony_providers``
  (documented on the config page, absent from the onboarding example).
- ``clock_skew_seconds`` — Vocobase's clock minus ours (docs: they may differ).
"""

from __future__ import annotations

import re
import uuid
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

OUTCOMES: tuple[str, ...] = (
    "completed",
    "no_answer",
    "busy",
    "voicemail",
    "failed",
    "user_hangup_no_speech",
    "canceled",
    "blocked",
)
"""How a simulated call can end: every documented ``disposition`` of the webhook.

``voicemail`` (answered by a machine) and ``user_hangup_no_speech`` (answered, nobody
spoke) are calls whose *status* is ``completed``; ``blocked`` has status ``failed``. New
outcomes go at the end so a seeded mix that does not name them draws as before."""

DOCUMENTED_PROVIDERS: tuple[str, ...] = (
    "mcube",
    "twilio",
    "exotel",
    "plivo",
    "vobiz",
    "sip",
    "voicelink",
)
"""Providers ``POST /calls/start`` accepts: its enum, plus ``voicelink``, which the docs name
elsewhere (it has a ``PUT /config/telephony/voicelink`` route)."""

CONNECTION_ONLY_PROVIDERS: frozenset[str] = frozenset({"sip"})
"""Providers set up only through telephony connections: there is no
``PUT /config/telephony/sip``, so they never have a ``telephony`` entry in ``/config``."""

DEFAULT_SIP_CONNECTION_ID = "00000000-0000-4000-8000-00000000c001"

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
_RANGES = ("ring_seconds", "talk_seconds", "processing_seconds")
_POSITIVE = ("webhook_timeout_seconds", "rate_window_seconds")


class SimAgent(BaseModel):
    """An agent as ``GET /agent/{id}`` describes it; only what the engine reads."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    agent_id: str
    name: str
    variables: list[str] = Field(default_factory=list)
    # None is the documented "no cap" (older agents may hold it): calls then last as long
    # as talk_seconds says.
    max_call_duration_secs: int | None = 600
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
    def _duration_in_documented_range(cls, value: int | None) -> int | None:
        if value is not None and not 60 <= value <= 3600:
            raise ValueError(
                f"max_call_duration_secs must be within 60-3600 or None (no cap), got {value}"
            )
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


class SimConnection(BaseModel):
    """A telephony connection, as ``GET /telephony/connections`` lists it.

    The docs give only the field names (``connection_id, provider, status, is_default,
    phone_numbers``); the shape chosen here is the flat one, with ``phone_numbers`` a list
    of E.164 strings. The first number is the caller ID of calls placed through it.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    connection_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    provider: str
    status: Literal["active", "inactive"] = "active"
    is_default: bool = False
    phone_numbers: list[str] = Field(default_factory=list)

    @field_validator("connection_id")
    @classmethod
    def _connection_id_is_uuid(cls, value: str) -> str:
        if not UUID_RE.match(value):
            raise ValueError(f"connection_id must be a UUID, got {value!r}")
        return value.lower()

    @field_validator("provider")
    @classmethod
    def _provider_is_known(cls, value: str) -> str:
        if value.lower() not in DOCUMENTED_PROVIDERS:
            raise ValueError(
                f"connection provider must be one of {DOCUMENTED_PROVIDERS}, got {value!r}"
            )
        return value.lower()

    @field_validator("phone_numbers")
    @classmethod
    def _numbers_are_e164(cls, value: list[str]) -> list[str]:
        for number in value:
            if not E164_RE.match(number):
                raise ValueError(f"connection phone_numbers must be E.164, got {number!r}")
        return value

    @property
    def active(self) -> bool:
        return self.status == "active"

    def api_view(self) -> dict[str, Any]:
        """One entry of ``data.connections`` in ``GET /telephony/connections``."""
        return {
            "connection_id": self.connection_id,
            "provider": self.provider,
            "status": self.status,
            "is_default": self.is_default,
            "phone_numbers": list(self.phone_numbers),
        }


def _default_connections() -> list[SimConnection]:
    return [
        SimConnection(
            connection_id=DEFAULT_SIP_CONNECTION_ID,
            provider="sip",
            is_default=True,
            phone_numbers=["+14155550199"],
        )
    ]


def _default_configured() -> list[str]:
    return [p for p in DOCUMENTED_PROVIDERS if p not in CONNECTION_ONLY_PROVIDERS]


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

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    api_key: str = "rg_live_simulator"
    agents: list[SimAgent] = Field(default_factory=_default_agents)
    allowed_providers: list[str] = Field(default_factory=lambda: list(DOCUMENTED_PROVIDERS))
    # Providers with credentials set (PUT /config/telephony/{provider}); never "sip".
    configured_providers: list[str] = Field(default_factory=_default_configured)
    from_number: str = "+14155550100"
    # GET /telephony/connections. A provider with an active connection may be used even
    # without a configured entry; by default one active SIP connection exists.
    connections: list[SimConnection] = Field(default_factory=_default_connections)
    # Documented on the config page; the onboarding example omits the key. False omits it,
    # and then every provider configured or with an active connection is allowed.
    config_lists_allowed_providers: bool = True

    calls_per_minute: int = 10
    general_per_minute: int = 60
    concurrency: int = 5
    rate_window_seconds: float = 60
    send_retry_after: bool = False
    # Undocumented: whether the rate-limit and the concurrency 429 can be told apart. False
    # (default) gives both one opaque body; True words them apart as RATE_LIMITED vs
    # CONCURRENCY_LIMIT_EXCEEDED ("Concurrency limit exceeded: ...").
    distinct_429s: bool = False

    time_scale: float = 1.0
    ring_seconds: tuple[float, float] = (2, 6)
    talk_seconds: tuple[float, float] = (10, 60)
    # Post-call processing (transcript, disposition, extraction), scaled like ring and talk
    # times: the call's status is final and its slot free at once, but processing_complete,
    # the session's transcript/recording and the webhook wait for it. (0, 0) = instant.
    processing_seconds: tuple[float, float] = (5, 30)
    outcome_mix: dict[str, float] = Field(
        default_factory=lambda: {
            "completed": 58.0,
            "no_answer": 20.0,
            "busy": 10.0,
            "voicemail": 5.0,
            "failed": 5.0,
            "user_hangup_no_speech": 2.0,
        }
    )
    # Undocumented: whether GET /calls and GET /calls/{id} carry disposition/answered_by
    # (only the webhook is documented to). When True they appear once processing is done.
    expose_disposition: bool = False
    # Undocumented: the order of GET /calls. "unordered" is a stable shuffle (a hash of the
    # call id and the seed), so offset pages stay consistent but say nothing about time.
    list_order: Literal["newest", "oldest", "unordered"] = "unordered"
    # Vocobase's clock minus the true time: every timestamp the simulator reports (API,
    # webhook body and X-Webhook-Timestamp) is true time + this, positive or negative.
    clock_skew_seconds: float = 0

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

    @field_validator(*_RANGES)
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

    @field_validator("allowed_providers", "configured_providers")
    @classmethod
    def _providers_known(cls, value: list[str], info: ValidationInfo) -> list[str]:
        known = {p.lower() for p in DOCUMENTED_PROVIDERS}
        unknown = sorted(p for p in value if p.lower() not in known)
        if unknown:
            raise ValueError(
                f"{info.field_name} has unknown providers {unknown}; known: {DOCUMENTED_PROVIDERS}"
            )
        return value

    @field_validator("configured_providers")
    @classmethod
    def _connection_only_not_configured(cls, value: list[str]) -> list[str]:
        wrong = sorted(p for p in value if p.lower() in CONNECTION_ONLY_PROVIDERS)
        if wrong:
            raise ValueError(
                f"configured_providers cannot name {wrong}: there is no "
                "PUT /config/telephony/sip; set SIP up with a SimConnection in connections"
            )
        return value

    @model_validator(mode="after")
    def _agents_unique(self) -> Self:
        ids = [agent.agent_id for agent in self.agents]
        if len(set(ids)) != len(ids):
            raise ValueError("agents must have distinct agent_id values")
        connection_ids = [c.connection_id for c in self.connections]
        if len(set(connection_ids)) != len(connection_ids):
            raise ValueError("connections must have distinct connection_id values")
        return self

    def agent(self, agent_id: str) -> SimAgent | None:
        """The agent with ``agent_id`` (UUIDs compare case-insensitively), if any."""
        wanted = agent_id.lower()
        return next((a for a in self.agents if a.agent_id == wanted), None)

    def provider_allowed(self, provider: str) -> bool:
        """Providers compare case-insensitively: the docs spell SIP both ways.

        Without a listed ``allowed_telephony_providers`` (``config_lists_allowed_providers``
        false), every provider that is configured or has an active connection is allowed.
        """
        if not self.config_lists_allowed_providers:
            return self.provider_usable(provider)
        return provider.lower() in {p.lower() for p in self.allowed_providers}

    def provider_configured(self, provider: str) -> bool:
        return provider.lower() in {p.lower() for p in self.configured_providers}

    def active_connections(self, provider: str) -> list[SimConnection]:
        wanted = provider.lower()
        return [c for c in self.connections if c.provider == wanted and c.active]

    def connection(self, connection_id: str) -> SimConnection | None:
        wanted = connection_id.lower()
        return next((c for c in self.connections if c.connection_id == wanted), None)

    def provider_usable(self, provider: str) -> bool:
        """Set up to place calls: credentials configured, or an active connection."""
        return self.provider_configured(provider) or bool(self.active_connections(provider))

    def telephony_view(self) -> dict[str, Any]:
        """The ``data`` of ``GET /config``: configured providers carry the from-number.

        Connection-only providers (SIP) never get a ``telephony`` entry.
        """
        names = dict.fromkeys(
            p.lower() for p in [*self.allowed_providers, *self.configured_providers]
        )
        telephony = {}
        for name in names:
            if name in CONNECTION_ONLY_PROVIDERS:
                continue
            configured = self.provider_configured(name)
            telephony[name] = {
                "configured": configured,
                "from_number": self.from_number if configured else None,
            }
        view: dict[str, Any] = {}
        if self.config_lists_allowed_providers:
            view["allowed_telephony_providers"] = list(self.allowed_providers)
        view["telephony"] = telephony
        return view

    def connections_view(self) -> dict[str, Any]:
        """The ``data`` of ``GET /telephony/connections``."""
        return {"connections": [c.api_view() for c in self.connections]}
