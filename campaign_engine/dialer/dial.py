"""The dial job: one contact's next attempt, from a free slot to a stored call_id.

Order matters and is the whole point of this module:

1. read the contact and campaign; give it back if the campaign is not running, close it
   if it is suppressed, give it back for later if it may not be called now (the gate);
2. take every limit (one Redis round trip) — nothing is claimed while we wait;
3. claim the attempt in a committed transaction (a second copy of the job finds nothing);
4. send ``POST /calls/start`` and record what it did:
   - accepted → store call_id/session_id, hold the slot until the call ends;
   - certainly not sent (429, connect error) → give the attempt back, free the slot,
     and on 429 make the whole fleet cool down;
   - refused for the whole campaign (401/403/agent missing) → pause the campaign;
   - refused for this number (400) → the contact fails with the reason;
   - fate unknown (timeout, 5xx) → ``unknown``: the reconciler finds out, never a blind redial.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from campaign_engine.campaigns.lifecycle import pause_for_error
from campaign_engine.campaigns.outcomes import Outcome
from campaign_engine.campaigns.states import CampaignState, ContactState
from campaign_engine.db.models import utcnow
from campaign_engine.dialer import attempts
from campaign_engine.dialer.adaptive import after_rate_limited
from campaign_engine.dialer.gate import check_before_dial
from campaign_engine.dialer.limit_plan import slot_names_for, start_plan
from campaign_engine.dialer.limiter import Grant
from campaign_engine.dialer.outcome import CallReport, Recorded, record_outcome
from campaign_engine.runtime import Runtime
from campaign_engine.vocobase.errors import (
    APIError,
    RateLimited,
    VocobaseError,
    is_campaign_fatal,
)
from campaign_engine.vocobase.models import StartCallRequest
from campaign_engine.webhooks.processing import process_event, waiting_events

log = logging.getLogger(__name__)


def call_variables(
    variables: dict[str, Any], declared: list[str] | None, correlation: str, attempt_id: int
) -> dict[str, str]:
    """The variables to send: only names the agent declares (when known), as strings, plus
    the engine's attempt id when the agent declares the correlation variable."""
    chosen = {
        name: "" if value is None else str(value)
        for name, value in variables.items()
        if declared is None or name in declared
    }
    if declared is not None and correlation in declared:
        chosen[correlation] = str(attempt_id)
    return chosen


async def dial_contact(ctx: dict[str, Any], contact_id: int) -> str:
    """arq job entry point; returns a short word saying what happened (for logs/tests)."""
    runtime: Runtime = ctx["runtime"]
    # One transaction reads the contact and asks the gate (and closes or hands it back).
    async with runtime.sessions() as session, session.begin():
        target = await attempts.load_target(session, contact_id)
        if target is None:
            return "missing"
        if target.contact_state != ContactState.QUEUED.value:
            return "not-queued"
        if target.campaign_state != CampaignState.RUNNING.value:
            await attempts.hand_back(session, target, reason=f"campaign {target.campaign_state}")
            return "campaign-not-running"
        verdict = await check_before_dial(
            session,
            target,
            utcnow(),
            daily_cap=runtime.settings.compliance.max_attempts_per_number_per_day,
        )
        if verdict.never:
            await attempts.close_unattempted(
                session, target, ContactState.SUPPRESSED, verdict.reason
            )
            return "suppressed"
        if not verdict.allowed:
            await attempts.hand_back(
                session, target, due_at=verdict.retry_at, reason=verdict.reason
            )
            return "not-now"

    grant = await _take_limits(runtime, target)
    if grant.held_elsewhere:
        return "held-elsewhere"
    if not grant.granted:
        await _hand_back(runtime, target, 0, None)
        return "no-slot"
    slot_names = slot_names_for(target.provider, target.campaign_id)

    async with runtime.sessions() as session, session.begin():
        attempt_id = await attempts.claim(
            session, target, margin_seconds=runtime.settings.limits.slot_margin_seconds
        )
    if attempt_id is None:
        await runtime.limiter.release(slot_names, target.lease)
        return "claimed-elsewhere"
    return await _start(runtime, target, attempt_id, slot_names)


async def _take_limits(runtime: Runtime, target: attempts.DialTarget) -> Grant:
    """Wait (in this job) until every limit has room, up to the configured time.

    The lease is short at first — long enough for the start request — and is extended to
    the call's whole possible length once the call may exist, so a job that dies before
    sending frees its slot soon.
    """
    limits = runtime.settings.limits
    state = await runtime.limit_state.get(runtime.redis, runtime.keys)
    plan = start_plan(
        limits,
        provider=target.provider,
        campaign_id=target.campaign_id,
        campaign_max_concurrent=target.max_concurrent,
        campaign_calls_per_minute=target.calls_per_minute,
        vocobase_concurrency=state.concurrency(limits),
        rate_factor=state.rate_factor,
    )
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + runtime.settings.dialer.max_wait_seconds
    while True:
        grant = await runtime.limiter.acquire(plan, target.lease, _request_ttl_ms(runtime))
        if grant.granted or grant.held_elsewhere:
            return grant
        remaining = give_up_at - loop.time()
        if remaining <= 0 or runtime.stopping.is_set():
            return grant
        await asyncio.sleep(min(grant.wait_ms / 1000, remaining, 1.0))


def _request_ttl_ms(runtime: Runtime) -> int:
    vocobase = runtime.settings.vocobase
    return int((vocobase.timeout_seconds + vocobase.connect_timeout_seconds + 30) * 1000)


def _call_ttl_ms(runtime: Runtime, target: attempts.DialTarget) -> int:
    return int((target.max_call_seconds + runtime.settings.limits.slot_margin_seconds) * 1000)


async def _hand_back(
    runtime: Runtime, target: attempts.DialTarget, delay: float, reason: str | None
) -> None:
    async with runtime.sessions() as session, session.begin():
        await attempts.hand_back(session, target, delay_seconds=delay, reason=reason)


async def _start(
    runtime: Runtime, target: attempts.DialTarget, attempt_id: int, slot_names: tuple[str, ...]
) -> str:
    request = StartCallRequest(
        agent_id=target.agent_id,
        to_number=target.phone,
        provider=target.provider,
        variables=call_variables(
            target.variables,
            target.agent_variables,
            runtime.settings.dialer.correlation_variable,
            attempt_id,
        ),
        connection_id=target.connection_id,
    )
    try:
        started = await runtime.vocobase.start_call(request)
    except VocobaseError as exc:
        return await _failed_start(runtime, target, attempt_id, slot_names, exc)
    await runtime.limiter.extend(slot_names, target.lease, _call_ttl_ms(runtime, target))
    async with runtime.sessions() as session, session.begin():
        await attempts.mark_started(
            session, attempt_id, call_id=started.call_id, session_id=started.session_id
        )
        early = await waiting_events(
            session, call_id=started.call_id, session_id=started.session_id
        )
    for event_id in early:  # webhooks that beat this response: apply them now
        await process_event(runtime, event_id)
    return "started"


async def _failed_start(
    runtime: Runtime,
    target: attempts.DialTarget,
    attempt_id: int,
    slot_names: tuple[str, ...],
    exc: VocobaseError,
) -> str:
    error = str(exc)
    if exc.maybe_sent:
        await runtime.limiter.extend(slot_names, target.lease, _call_ttl_ms(runtime, target))
        async with runtime.sessions() as session, session.begin():
            await attempts.mark_unknown(session, attempt_id, error=error)
        log.warning("start of attempt %s has an unknown fate: %s", attempt_id, error)
        return "unknown"
    if isinstance(exc, RateLimited):
        limits = runtime.settings.limits
        cooldown = exc.retry_after or limits.cooldown_seconds
        await runtime.limiter.cool_down(cooldown)
        await after_rate_limited(runtime.redis, runtime.keys, limits, exc.kind)
        runtime.limit_state.forget()
        log.warning("429 (%s) from Vocobase: fleet cools down %.1fs", exc.kind, cooldown)
        await _give_back(runtime, attempt_id, slot_names, target, error, cooldown)
        return "rate-limited"
    if isinstance(exc, APIError) and is_campaign_fatal(exc):
        await _give_back(runtime, attempt_id, slot_names, target, error, 0)
        async with runtime.sessions() as session, session.begin():
            await pause_for_error(session, target.campaign_id, error)
        return "campaign-paused"
    if isinstance(exc, APIError):
        recorded = await _record_rejection(runtime, attempt_id, error)
        if recorded.applied:
            await runtime.limiter.release(recorded.slot_names, recorded.lease)
        return "rejected"
    await _give_back(runtime, attempt_id, slot_names, target, error, 0)
    return "not-sent"


async def _give_back(
    runtime: Runtime,
    attempt_id: int,
    slot_names: tuple[str, ...],
    target: attempts.DialTarget,
    error: str,
    delay: float,
) -> None:
    async with runtime.sessions() as session, session.begin():
        await attempts.mark_not_sent(session, attempt_id, error=error, delay_seconds=delay)
    await runtime.limiter.release(slot_names, target.lease)


async def _record_rejection(runtime: Runtime, attempt_id: int, error: str) -> Recorded:
    report = CallReport(call_status=None, outcome=Outcome.REJECTED, error=error)
    async with runtime.sessions() as session, session.begin():
        return await record_outcome(session, attempt_id, report)
