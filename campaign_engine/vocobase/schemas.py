"""The shapes Vocobase sends and accepts, for the client and the webhook receiver.

Response models are strict only where the engine cannot work without a value (ids, the
call status) and lenient everywhere else: unknown fields are ignored, a ``null`` where a
default exists means the default, and an unreadable timestamp becomes ``None``. One odd
record must not make a whole ``GET /calls`` page, or a webhook, unreadable, because a
rejected webhook is dropped for good after three retries.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    model_validator,
)

NonEmptyStr = Annotated[str, StringConstraints(min_length=1)]


# Text a webhook carries into a column: no control characters (PostgreSQL text cannot hold
# NUL), not blank, and no longer than the column. A value that does not fit is not the
# documented shape: the delivery is refused with 400 and kept, not failed with a 500.
_PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
WebhookId = Annotated[  # ids are UUIDs; their columns hold 64
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=_PRINTABLE)
]
WebhookStatus = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16, pattern=_PRINTABLE)
]
ShortCode = Annotated[str, StringConstraints(max_length=16, pattern=_PRINTABLE)]  # answered_by
Code = Annotated[str, StringConstraints(max_length=32, pattern=_PRINTABLE)]  # disposition


def _lenient_utc(value: Any, handler: ValidatorFunctionWrapHandler) -> datetime | None:
    """Timestamps are informational, so a bad one is dropped; naive ones are UTC per docs."""
    try:
        parsed: datetime | None = handler(value)
    except ValidationError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


Timestamp = Annotated[datetime | None, WrapValidator(_lenient_utc)]


class _Response(BaseModel):
    """Base for everything Vocobase sends us."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _null_means_default(cls, data: Any) -> Any:
        """A ``null`` for a field that has a non-null default takes the default instead of
        failing: the docs say what a field holds, not that it is never null."""
        if not isinstance(data, dict):
            return data
        defaulted = cls._defaulted_fields()
        return {k: v for k, v in data.items() if v is not None or k not in defaulted}

    @classmethod
    @functools.cache
    def _defaulted_fields(cls) -> frozenset[str]:
        """Fields with a non-null default (once per class: every webhook is parsed)."""
        return frozenset(
            name
            for name, field in cls.model_fields.items()
            if not field.is_required()
            and (field.default is not None or field.default_factory is not None)
        )


class TelephonySetup(_Response):
    configured: bool = False
    from_number: str | None = None


class PartnerConfig(_Response):
    """``GET /config``: which providers this partner may use and has set up.

    ``allowed_telephony_providers`` is optional: the onboarding page's example of the same
    endpoint has none, and then nothing here can refuse a provider.
    """

    allowed_telephony_providers: list[str] | None = None
    telephony: dict[str, TelephonySetup] = Field(default_factory=dict)

    def allows(self, provider: str) -> bool:
        """Case-insensitive: the docs spell the same provider ``sip`` and ``SIP``. With no
        list, every provider may be allowed (Vocobase decides at the start)."""
        if self.allowed_telephony_providers is None:
            return True
        wanted = provider.lower()
        return any(p.lower() == wanted for p in self.allowed_telephony_providers)

    def is_configured(self, provider: str) -> bool:
        wanted = provider.lower()
        return any(k.lower() == wanted and v.configured for k, v in self.telephony.items())


class TelephonyConnection(_Response):
    """One of ``GET /telephony/connections``: how SIP (and any provider with several trunks)
    is set up; a partner using only connections may have no ``configured`` entry in
    ``/config`` for that provider."""

    connection_id: NonEmptyStr = Field(validation_alias=AliasChoices("connection_id", "id"))
    provider: str = ""
    status: str = ""
    is_default: bool = False
    phone_numbers: list[Any] = Field(default_factory=list)

    @property
    def active(self) -> bool:
        return self.status.lower() == "active"


class ConnectionList(_Response):
    """``GET /telephony/connections``: the list itself, or under ``connections``."""

    connections: list[TelephonyConnection] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _bare_list(cls, data: Any) -> Any:
        return {"connections": data} if isinstance(data, list) else data

    def for_provider(self, provider: str) -> list[TelephonyConnection]:
        wanted = provider.lower()
        return [c for c in self.connections if c.provider.lower() == wanted]


class Agent(_Response):
    """``GET /agent/{id}``; ``variables`` are the only keys a call may fill in."""

    agent_id: NonEmptyStr = Field(validation_alias=AliasChoices("agent_id", "id"))
    name: str | None = None
    variables: list[str] = Field(default_factory=list)
    voicemail_detection_enabled: bool = False
    voicemail_message: str | None = None
    # Documented: 600 when not set; ``null`` means no cap (older agents hold it).
    max_call_duration_secs: int | None = 600
    agent_type: str | None = None

    @classmethod
    @functools.cache
    def _defaulted_fields(cls) -> frozenset[str]:
        """An explicit ``null`` duration is "no cap", not the default of 600."""
        return super()._defaulted_fields() - {"max_call_duration_secs"}


class StartCallRequest(BaseModel):
    """Body of ``POST /calls/start``. Built by the engine, so unknown fields are a bug."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    agent_id: NonEmptyStr
    to_number: NonEmptyStr
    provider: NonEmptyStr = "mcube"
    variables: dict[str, str] = Field(default_factory=dict)
    connection_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The wire body; an empty ``connection_id`` is left out rather than sent as a
        (non-uuid) value Vocobase would reject."""
        body: dict[str, Any] = {
            "agent_id": self.agent_id,
            "to_number": self.to_number,
            "provider": self.provider,
            "variables": dict(self.variables),
        }
        if self.connection_id:
            body["connection_id"] = self.connection_id
        return body


class StartedCall(_Response):
    """``POST /calls/start`` answer. The two ids are required because the webhook is
    matched on them; the echo fields are optional because the call has been placed by
    now, and an answer rejected over a missing echo would leave its fate unknown."""

    call_id: NonEmptyStr
    session_id: NonEmptyStr
    status: str = "pending"
    provider: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    agent_id: str | None = None


class CallStatus(StrEnum):
    PENDING = "pending"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CANCELED = "canceled"

    FINAL: ClassVar[frozenset[CallStatus]]

    @classmethod
    def is_final_value(cls, status: str) -> bool:
        """For raw strings from the API, which may be upper-case (``statuses_counted``)."""
        return status.lower() in cls.FINAL


CallStatus.FINAL = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.BUSY,
        CallStatus.CANCELED,
    }
)


class TranscriptTurn(_Response):
    role: str
    content: str
    timestamp: str | None = None


class Extraction(_Response):
    status: str
    values: dict[str, Any] = Field(default_factory=dict)


class Call(_Response):
    """One call as ``GET /calls`` lists it. ``status`` is kept as text so a status Vocobase
    adds later does not make the page unreadable; see ``CallStatus.is_final_value``."""

    call_id: NonEmptyStr
    status: NonEmptyStr
    agent_id: str | None = None
    session_id: str | None = None
    direction: str | None = None
    from_number: str | None = None
    to_number: str | None = None
    provider: str | None = None
    duration_seconds: float | None = None
    error_message: str | None = None
    started_at: Timestamp = None
    ended_at: Timestamp = None
    created_at: Timestamp = None
    disposition: str | None = None
    answered_by: str | None = None

    @property
    def is_final(self) -> bool:
        return CallStatus.is_final_value(self.status)


class CallSession(_Response):
    session_id: NonEmptyStr
    duration_seconds: float | None = None
    credits_used: float | None = None
    transcript: list[TranscriptTurn] = Field(default_factory=list)
    recording_url: str | None = None
    status: str | None = None
    started_at: Timestamp = None
    ended_at: Timestamp = None
    extraction: Extraction | None = None


class CallDetail(Call):
    """``GET /calls/{id}``: the call plus its session once one exists, and whether post-call
    processing (transcript, disposition, extraction) is complete: the webhook leaves only
    then, so until it is the session's results may be missing."""

    session: CallSession | None = None
    processing_complete: bool | None = None
    pipeline_completed_at: Timestamp = None


class CallList(_Response):
    calls: list[Call] = Field(default_factory=list)
    total: int
    limit: int
    offset: int


class Concurrency(_Response):
    """``GET /calls/concurrency``: the live limit, which differs per partner."""

    limit: int
    limit_source: str | None = None
    active: int
    remaining: int
    statuses_counted: list[str] = Field(default_factory=list)


class WebhookCall(_Response):
    call_id: WebhookId
    status: WebhookStatus
    from_number: str | None = None
    to_number: str | None = None
    direction: str | None = None
    disposition: Code | None = None
    answered_by: ShortCode | None = None


class SessionCompletedData(_Response):
    """``session_id`` is the de-duplication key, so it is the one thing required."""

    model_config = ConfigDict(allow_inf_nan=False)

    session_id: WebhookId
    agent_id: str | None = None
    agent_name: str | None = None
    duration_seconds: float | None = None
    credits_used: float | None = None
    processing_complete: bool | None = None
    pipeline_completed_at: Timestamp = None
    transcript: list[TranscriptTurn] = Field(default_factory=list)
    recording_url: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    extraction: Extraction | None = None
    call: WebhookCall | None = None

    @model_validator(mode="after")
    def _storable(self) -> SessionCompletedData:
        """Free-form values (variables, extraction, transcript) are stored as JSON: no
        infinite or NaN number (not JSON) and no NUL character (not storable as text)."""
        for where, value in (
            ("variables", self.variables),
            ("extraction", self.extraction.values if self.extraction else {}),
            ("transcript", [turn.content for turn in self.transcript]),
            ("recording_url", self.recording_url),
        ):
            problem = _unstorable(value)
            if problem:
                raise ValueError(f"{where} holds {problem}")
        return self


class SessionCompletedEvent(_Response):
    event: Literal["session.completed"]
    timestamp: str
    data: SessionCompletedData


def _unstorable(value: Any) -> str | None:
    if isinstance(value, float) and not math.isfinite(value):
        return f"a number that is not finite ({value})"
    if isinstance(value, str):
        return "a NUL character" if "\x00" in value else None
    if isinstance(value, dict):
        items: Any = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    return next((found for item in items if (found := _unstorable(item))), None)
