"""The life of one simulated call, from ``pending`` to its end, and the book of all calls.

A call's life has two endings, as the docs describe: the call *ends* (its status turns
final, ``ended_at`` is set and its concurrency slot is free at once), and later its
post-call *processing* completes (``processing_complete``, ``pipeline_completed_at``, the
transcript, recording and disposition appear, and only then is ``session.completed``
sent). ``processing_seconds=(0, 0)`` makes the two coincide.

Every random choice for a call is drawn when it is placed (see :func:`draw_plan`), not as it
runs, so a seeded simulator gives the same outcomes for the same sequence of requests no
matter how the event loop interleaves the running calls.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import random
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from campaign_engine.simulator.api_limits import is_active
from campaign_engine.simulator.knobs import OUTCOMES, SimAgent, SimulatorConfig
from campaign_engine.simulator.ledger import Ledger, LedgerCall, iso_utc, utc_now

Clock = Callable[[], datetime]
ListOrder = Literal["newest", "oldest", "unordered"]

QUICK_OUTCOMES: frozenset[str] = frozenset({"busy", "failed", "blocked"})
"""Outcomes that end while the call is still being set up, long before ring time is over."""
ANSWERED_OUTCOMES: frozenset[str] = frozenset({"completed", "voicemail", "user_hangup_no_speech"})
"""Outcomes of calls that were picked up: status ``completed``, talk time, a recording."""

ENDINGS: dict[str, tuple[str, str, str | None]] = {
    # outcome: (status, disposition, answered_by), per the webhook documentation. Status is
    # one of completed, failed, no_answer, busy, canceled; voicemail and
    # user_hangup_no_speech are dispositions of a completed call.
    "completed": ("completed", "completed", "human"),
    "voicemail": ("completed", "voicemail", "machine"),
    "user_hangup_no_speech": ("completed", "user_hangup_no_speech", "unknown"),
    "no_answer": ("no_answer", "no_answer", "not_answered"),
    "busy": ("busy", "busy", "not_answered"),
    "canceled": ("canceled", "canceled", "not_answered"),
    "blocked": ("failed", "blocked", "not_answered"),
    "failed": ("failed", "failed", None),
}
_ERRORS = {
    "failed": "Call failed: the carrier rejected the call",
    "blocked": "Call blocked: the destination number is blocked",
}
_CANCELED_SHARE = 0.5
"""A canceled call is given up half-way through its ring time."""
_NO_SPEECH_SHARE = 0.1
"""Picked up, nobody spoke, hung up: a small part of a conversation's length."""
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
    processing_seconds: float = 0.0


def draw_plan(config: SimulatorConfig, rng: random.Random, agent: SimAgent) -> CallPlan:
    """Draw every random value, always in the same order, whatever the knobs say."""
    weights = [config.outcome_mix.get(outcome, 0.0) for outcome in OUTCOMES]
    outcome = rng.choices(OUTCOMES, weights=weights)[0]
    ring = rng.uniform(*config.ring_seconds)
    talk = rng.uniform(*config.talk_seconds)
    if agent.max_call_duration_secs is not None:  # None: no cap, as documented
        talk = min(talk, float(agent.max_call_duration_secs))
    if outcome == "voicemail":
        talk *= _VOICEMAIL_SHARE
    elif outcome == "user_hangup_no_speech":
        talk *= _NO_SPEECH_SHARE
    quick_fraction = rng.uniform(0.02, 0.2)
    drop = rng.random() < config.p_drop_webhook
    duplicate = rng.random() < config.p_duplicate_webhook
    processing = rng.uniform(*config.processing_seconds)
    return CallPlan(outcome, ring, talk, quick_fraction, drop, duplicate, processing)


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
    list_key: bytes = b""
    """Where the call sorts in an ``unordered`` listing (fixed when it is placed)."""

    @property
    def processing_complete(self) -> bool:
        return self.record.pipeline_completed_at is not None

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
        processed = self.processing_complete  # until then the session's results are empty
        return {
            "session_id": r.session_id,
            "duration_seconds": r.duration_seconds if processed else None,
            "credits_used": self.credits_used,
            "transcript": [dict(turn) for turn in self.transcript],
            "recording_url": self.recording_url,
            "status": session_status,
            "started_at": iso_utc(self.answered_at),
            "ended_at": iso_utc(r.ended_at),
        }

    def detail_view(self, expose_disposition: bool) -> dict[str, Any]:
        """A call as ``GET /calls/{id}`` shows it.

        ``processing_complete``/``pipeline_completed_at`` are documented; the disposition is
        not (``expose_disposition``), and when shown it is null until processing is done,
        because working it out is part of that processing.
        """
        view = self.api_view()
        view["session"] = self.session_view()
        view["processing_complete"] = self.processing_complete
        view["pipeline_completed_at"] = iso_utc(self.record.pipeline_completed_at)
        if expose_disposition:
            processed = self.processing_complete
            view["disposition"] = self.record.disposition if processed else None
            view["answered_by"] = self.record.answered_by if processed else None
        return view


class CallBook:
    """All calls placed, each running as its own task until its processing is done.

    ``on_processed`` is called once a call's post-call processing has completed (that is
    when ``session.completed`` is due); ``now`` is the simulator's own clock, which every
    recorded time comes from.
    """

    def __init__(
        self,
        ledger: Ledger,
        on_processed: Callable[[SimCall], None],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        now: Clock = utc_now,
        list_salt: str = "",
    ) -> None:
        self._ledger = ledger
        self._on_processed = on_processed
        self._sleep = sleep
        self._now = now
        self.list_salt = list_salt
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
            created_at=self._now(),
        )
        call = SimCall(record, plan, agent, from_number, time_scale)
        call.list_key = hashlib.sha256(f"{self.list_salt}:{record.call_id}".encode()).digest()
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
        """End a quick-failing call and process it at once: the "webhook before the
        response" race (processing time is skipped, or the race could not happen)."""
        task = self._tasks.pop(call.call_id, None)
        if task is not None:
            task.cancel()
        if is_active(call.status):
            self._end(call)
        if not call.processing_complete:
            self._process(call)

    async def _run(self, call: SimCall) -> None:
        plan, scale = call.plan, call.time_scale
        ring = plan.ring_seconds * scale
        if plan.outcome in QUICK_OUTCOMES:
            await self._sleep(ring * plan.quick_fraction)
        else:
            await self._sleep(ring * _PENDING_SHARE)
            call.record.status = "ringing"
            call.started_at = self._now()
            if plan.outcome == "canceled":
                await self._sleep(ring * (_CANCELED_SHARE - _PENDING_SHARE))
            else:
                await self._sleep(ring * (1 - _PENDING_SHARE))
            if plan.outcome in ANSWERED_OUTCOMES:
                call.record.status = "in_progress"
                call.answered_at = self._now()
                await self._sleep(plan.talk_seconds * scale)
        self._end(call)
        if plan.processing_seconds > 0:
            await self._sleep(plan.processing_seconds * scale)
        self._process(call)

    def _end(self, call: SimCall) -> None:
        """The call is over: its status is final and its slot is free, right now."""
        plan, record = call.plan, call.record
        status, disposition, answered_by = ENDINGS[plan.outcome]
        now = self._now()
        record.status, record.disposition, record.answered_by = status, disposition, answered_by
        record.ended_at = now
        self._active.discard(call.call_id)
        call.started_at = call.started_at or now
        if plan.outcome in ANSWERED_OUTCOMES:
            record.duration_seconds = max(1, round(plan.talk_seconds))
        else:
            record.duration_seconds = 0
        call.error_message = _ERRORS.get(plan.outcome)

    def _process(self, call: SimCall) -> None:
        """Post-call processing is done: transcript, recording, credits; then the webhook."""
        record = call.record
        record.pipeline_completed_at = self._now()
        if call.plan.outcome in ANSWERED_OUTCOMES:
            assert record.ended_at is not None and record.duration_seconds is not None
            call.credits_used = math.ceil(record.duration_seconds / 60)
            call.recording_url = f"https://recordings.simulator.invalid/{record.session_id}.mp3"
            call.transcript = _transcript(call, record.ended_at)
        self._on_processed(call)

    def get(self, call_id: str) -> SimCall | None:
        return self._calls.get(call_id.lower())

    def listed(self, status: str | None = None, order: ListOrder = "newest") -> list[SimCall]:
        """Calls as ``GET /calls`` lists them, in ``order``; every order is stable, so
        offset pages read one after another do not repeat or skip (unless calls come in)."""
        calls = [c for c in self._calls.values() if status is None or c.status == status]
        if order == "newest":
            calls.reverse()
        elif order == "unordered":
            calls.sort(key=lambda call: call.list_key)
        return calls

    def newest_first(self, status: str | None = None) -> list[SimCall]:
        return self.listed(status, "newest")

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
    """A plausible short conversation, spread over the (real) answered period; roles are
    ``bot`` and ``user``, as documented."""
    variables = {**call.record.variables, "agent": call.agent.name}
    if call.plan.outcome == "voicemail":
        message = call.agent.voicemail_message or _DEFAULT_VOICEMAIL
        lines = [("bot", render(message, variables))]
    elif call.plan.outcome == "user_hangup_no_speech":
        lines = [("bot", render(_DEFAULT_GREETING, variables))]
    else:
        lines = [
            ("bot", render(_DEFAULT_GREETING, variables)),
            ("user", "Hi, yes, speaking."),
            ("bot", "Thank you for your time. Goodbye."),
        ]
    start = call.answered_at or ended_at
    step = (ended_at - start) / len(lines)
    return [
        {"role": role, "content": content, "timestamp": iso_utc(start + step * i)}
        for i, (role, content) in enumerate(lines)
    ]
