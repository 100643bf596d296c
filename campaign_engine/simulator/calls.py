"""The life of one simulated call, from ``pending`` to its end, and the book of all calls.

Every random choice for a call is drawn when it is placed (see :func:`draw_plan`), not as it
runs, so a seeded simulator gives the same outcomes for the same sequence of requests no
matter how the event loop interleaves the running calls.
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from campaign_engine.simulator.api_limits import is_active
from campaign_engine.simulator.knobs import OUTCOMES, SimAgent, SimulatorConfig
from campaign_engine.simulator.ledger import Ledger, LedgerCall, iso_utc, utc_now

QUICK_OUTCOMES: frozenset[str] = frozenset({"busy", "failed"})
"""Outcomes that end while the call is still being set up, long before ring time is over."""

_ENDINGS: dict[str, tuple[str, str, str | None]] = {
    # outcome: (status, disposition, answered_by), per the webhook documentation
    "completed": ("completed", "completed", "human"),
    "voicemail": ("completed", "voicemail", "machine"),
    "no_answer": ("no_answer", "no_answer", "not_answered"),
    "busy": ("busy", "busy", "not_answered"),
    "failed": ("failed", "failed", None),
}
_PENDING_SHARE = 0.1
"""Share of the ring time a call spends ``pending`` (being set up) before it rings."""
_VOICEMAIL_SHARE = 0.25
"""A voicemail greeting plus message is shorter than a conversation."""
_PLACEHOLDER_RE = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
_DEFAULT_GREETING = "Hello {{name}}, this is {{agent}} calling."
_DEFAULT_VOICEMAIL = "Hello {{name}}, sorry we missed you. We will call back later."


@dataclass(frozen=True)
class CallPlan:
    """How a call will go; durations are simulated seconds, before ``time_scale``."""

    outcome: str
    ring_seconds: float
    talk_seconds: float
    quick_fraction: float
    drop_webhook: bool
    duplicate_webhook: bool


def draw_plan(config: SimulatorConfig, rng: random.Random, agent: SimAgent) -> CallPlan:
    """Draw every random value, always in the same order, whatever the knobs say."""
    weights = [config.outcome_mix.get(outcome, 0.0) for outcome in OUTCOMES]
    outcome = rng.choices(OUTCOMES, weights=weights)[0]
    ring = rng.uniform(*config.ring_seconds)
    talk = min(rng.uniform(*config.talk_seconds), float(agent.max_call_duration_secs))
    if outcome == "voicemail":
        talk *= _VOICEMAIL_SHARE
    quick_fraction = rng.uniform(0.02, 0.2)
    drop = rng.random() < config.p_drop_webhook
    duplicate = rng.random() < config.p_duplicate_webhook
    return CallPlan(outcome, ring, talk, quick_fraction, drop, duplicate)


def render(template: str, variables: dict[str, Any]) -> str:
    """Fill ``{{name}}`` placeholders; missing variables render empty, as documented."""

    def value(match: re.Match[str]) -> str:
        found = variables.get(match.group(1))
        return "" if found is None else str(found)

    return _PLACEHOLDER_RE.sub(value, template)


@dataclass
class SimCall:
    """A call's full state: the ledger record plus what only the API shows."""

    record: LedgerCall
    plan: CallPlan
    agent: SimAgent
    from_number: str
    time_scale: float
    started_at: datetime | None = None
    answered_at: datetime | None = None
    transcript: list[dict[str, Any]] = field(default_factory=list)
    recording_url: str | None = None
    credits_used: int = 0
    error_message: str | None = None

    @property
    def call_id(self) -> str:
        return self.record.call_id

    @property
    def session_id(self) -> str:
        return self.record.session_id

    @property
    def status(self) -> str:
        return self.record.status

    def api_view(self) -> dict[str, Any]:
        """A call as ``GET /calls`` lists it."""
        r = self.record
        return {
            "call_id": r.call_id,
            "agent_id": r.agent_id,
            "session_id": r.session_id,
            "direction": "outbound",
            "from_number": self.from_number,
            "to_number": r.to_number,
            "status": r.status,
            "provider": r.provider,
            "duration_seconds": r.duration_seconds,
            "error_message": self.error_message,
            "started_at": iso_utc(self.started_at),
            "ended_at": iso_utc(r.ended_at),
            "created_at": iso_utc(r.created_at),
        }

    def session_view(self) -> dict[str, Any]:
        r = self.record
        if r.ended_at is not None:
            session_status = "completed"
        else:
            session_status = "active" if r.status == "in_progress" else "pending"
        return {
            "session_id": r.session_id,
            "duration_seconds": r.duration_seconds,
            "credits_used": self.credits_used,
            "transcript": [dict(turn) for turn in self.transcript],
            "recording_url": self.recording_url,
            "status": session_status,
            "started_at": iso_utc(self.answered_at),
            "ended_at": iso_utc(r.ended_at),
        }

    def detail_view(self, expose_disposition: bool) -> dict[str, Any]:
        """A call as ``GET /calls/{id}`` shows it; disposition is undocumented there."""
        view = self.api_view()
        view["session"] = self.session_view()
        if expose_disposition:
            view["disposition"] = self.record.disposition
            view["answered_by"] = self.record.answered_by
        return view


class CallBook:
    """All calls placed, each running as its own task until it ends."""

    def __init__(
        self,
        ledger: Ledger,
        on_end: Callable[[SimCall], None],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._ledger = ledger
        self._on_end = on_end
        self._sleep = sleep
        self._calls: dict[str, SimCall] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        # Ids of calls not ended yet: the concurrency check runs on every start request, and
        # counting over every call ever placed would make a long run quadratic.
        self._active: set[str] = set()

    def place(
        self,
        *,
        agent: SimAgent,
        to_number: str,
        provider: str,
        from_number: str,
        variables: dict[str, Any],
        plan: CallPlan,
        time_scale: float,
        run: bool = True,
    ) -> SimCall:
        """Create the call and, unless ``run`` is false, start its lifecycle task."""
        record = LedgerCall(
            call_id=str(uuid.uuid4()),
            session_id=str(uuid.uuid4()),
            agent_id=agent.agent_id,
            to_number=to_number,
            provider=provider,
            variables=dict(variables),
            created_at=utc_now(),
        )
        call = SimCall(record, plan, agent, from_number, time_scale)
        self._calls[call.call_id] = call
        if is_active(record.status):
            self._active.add(call.call_id)
        self._ledger.record_call(record)
        self._ledger.note_active(self.active_count())
        if run:
            task = asyncio.create_task(self._run(call), name=f"sim-call-{call.call_id}")
            self._tasks[call.call_id] = task
            task.add_done_callback(functools.partial(self._forget_task, call.call_id))
        return call

    def _forget_task(self, call_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(call_id, None)

    def finish_now(self, call: SimCall) -> None:
        """End a quick-failing call at once: the "webhook before the response" race."""
        task = self._tasks.pop(call.call_id, None)
        if task is not None:
            task.cancel()
        if is_active(call.status):
            self._end(call)

    async def _run(self, call: SimCall) -> None:
        plan, scale = call.plan, call.time_scale
        ring = plan.ring_seconds * scale
        if plan.outcome in QUICK_OUTCOMES:
            await self._sleep(ring * plan.quick_fraction)
        else:
            await self._sleep(ring * _PENDING_SHARE)
            call.record.status = "ringing"
            call.started_at = utc_now()
            await self._sleep(ring * (1 - _PENDING_SHARE))
            if plan.outcome != "no_answer":
                call.record.status = "in_progress"
                call.answered_at = utc_now()
                await self._sleep(plan.talk_seconds * scale)
        self._end(call)

    def _end(self, call: SimCall) -> None:
        plan, record = call.plan, call.record
        status, disposition, answered_by = _ENDINGS[plan.outcome]
        now = utc_now()
        answered = plan.outcome in ("completed", "voicemail")
        record.status, record.disposition, record.answered_by = status, disposition, answered_by
        record.ended_at = now
        self._active.discard(call.call_id)
        call.started_at = call.started_at or now
        if answered:
            record.duration_seconds = max(1, round(plan.talk_seconds))
            call.credits_used = math.ceil(record.duration_seconds / 60)
            call.recording_url = f"https://recordings.simulator.invalid/{record.session_id}.mp3"
            call.transcript = _transcript(call, now)
        else:
            record.duration_seconds = 0
        if plan.outcome == "failed":
            call.error_message = "Call failed: the carrier rejected the call"
        self._on_end(call)

    def get(self, call_id: str) -> SimCall | None:
        return self._calls.get(call_id.lower())

    def newest_first(self, status: str | None = None) -> list[SimCall]:
        calls = reversed(list(self._calls.values()))
        return [c for c in calls if status is None or c.status == status]

    def active_count(self) -> int:
        return len(self._active)

    @property
    def running(self) -> int:
        """Calls whose lifecycle task has not finished yet."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every running call has ended."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks.values()), return_exceptions=True)

    async def cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()

    def clear(self) -> None:
        self._calls.clear()
        self._active.clear()


def _transcript(call: SimCall, ended_at: datetime) -> list[dict[str, Any]]:
    """A plausible short conversation, spread over the (real) answered period."""
    variables = {**call.record.variables, "agent": call.agent.name}
    if call.plan.outcome == "voicemail":
        message = call.agent.voicemail_message or _DEFAULT_VOICEMAIL
        lines = [("assistant", render(message, variables))]
    else:
        lines = [
            ("assistant", render(_DEFAULT_GREETING, variables)),
            ("user", "Hi, yes, speaking."),
            ("assistant", "Thank you for your time. Goodbye."),
        ]
    start = call.answered_at or ended_at
    step = (ended_at - start) / len(lines)
    return [
        {"role": role, "content": content, "timestamp": iso_utc(start + step * i)}
        for i, (role, content) in enumerate(lines)
    ]
