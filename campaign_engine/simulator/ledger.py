"""Evidence of what the engine did to the simulator, for tests and benchmarks to assert on.

The API only shows the engine's own view; the ledger is the simulator's independent record
(every call placed, every limit hit, the peak load) so a test can prove, for example, that
no number was called twice or that the engine never exceeded the concurrency limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from campaign_engine import clock


def utc_now() -> datetime:
    """True UTC: the engine's one clock (:mod:`campaign_engine.clock`), which is the
    system's unless a test or benchmark running the simulator in its process drives it —
    then Vocobase's times and the engine's agree, as real clocks roughly do."""
    return clock.now()


def skewed_now(skew_seconds: float) -> datetime:
    """The simulated Vocobase's own clock: true UTC plus ``clock_skew_seconds``."""
    return utc_now() + timedelta(seconds=skew_seconds)


def iso_utc(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with a ``Z``, as the API writes times."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


@dataclass
class LedgerCall:
    """One placed call; the call lifecycle updates it in place as the call moves on.

    Times are the simulator's clock (true time + ``clock_skew_seconds``), as reported.
    ``disposition`` is the truth from the moment the call ends, even while the API still
    hides it behind post-call processing (``pipeline_completed_at`` is None until then).
    """

    call_id: str
    session_id: str
    agent_id: str
    to_number: str
    provider: str
    variables: dict[str, Any]
    created_at: datetime
    status: str = "pending"
    disposition: str | None = None
    answered_by: str | None = None
    ended_at: datetime | None = None
    duration_seconds: int | None = None
    pipeline_completed_at: datetime | None = None
    webhook_deliveries: int = 0
    webhook_attempts: int = 0
    dropped: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "session_id": self.session_id,
            "agent_id": self.agent_id,
            "to_number": self.to_number,
            "provider": self.provider,
            "variables": dict(self.variables),
            "created_at": iso_utc(self.created_at),
            "status": self.status,
            "disposition": self.disposition,
            "answered_by": self.answered_by,
            "ended_at": iso_utc(self.ended_at),
            "duration_seconds": self.duration_seconds,
            "pipeline_completed_at": iso_utc(self.pipeline_completed_at),
            "webhook_deliveries": self.webhook_deliveries,
            "webhook_attempts": self.webhook_attempts,
            "dropped": self.dropped,
        }


def _no_429s() -> dict[str, int]:
    return {"rate": 0, "concurrency": 0}


@dataclass
class Ledger:
    """Calls placed plus the high-water marks that show whether limits were respected."""

    calls: list[LedgerCall] = field(default_factory=list)
    peak_concurrency: int = 0
    max_calls_requests_in_window: int = 0
    calls_requests_accepted: int = 0
    responses_429: dict[str, int] = field(default_factory=_no_429s)
    responses_5xx: int = 0
    slow_responses: int = 0
    requests_total: int = 0

    def record_call(self, call: LedgerCall) -> None:
        self.calls.append(call)

    def note_active(self, active: int) -> None:
        self.peak_concurrency = max(self.peak_concurrency, active)

    def note_calls_request(self, in_window: int) -> None:
        """An accepted ``/calls/*`` request; ``in_window`` includes it."""
        self.calls_requests_accepted += 1
        self.max_calls_requests_in_window = max(self.max_calls_requests_in_window, in_window)

    def note_429(self, kind: str) -> None:
        self.responses_429[kind] = self.responses_429.get(kind, 0) + 1

    def calls_to(self, number: str) -> list[LedgerCall]:
        return [call for call in self.calls if call.to_number == number]

    def clear(self) -> None:
        """Forget everything, in place, because the call book shares this object."""
        self.calls.clear()
        self.peak_concurrency = 0
        self.max_calls_requests_in_window = 0
        self.calls_requests_accepted = 0
        self.responses_429 = _no_429s()
        self.responses_5xx = 0
        self.slow_responses = 0
        self.requests_total = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": [call.to_dict() for call in self.calls],
            "peak_concurrency": self.peak_concurrency,
            "max_calls_requests_in_window": self.max_calls_requests_in_window,
            "calls_requests_accepted": self.calls_requests_accepted,
            "responses_429": dict(self.responses_429),
            "responses_5xx": self.responses_5xx,
            "slow_responses": self.slow_responses,
            "requests_total": self.requests_total,
        }
