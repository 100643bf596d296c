"""One wave of a dial job: contacts whose limits are taken, claimed, started together.

1. claim their attempts in a committed transaction (those someone else has are dropped and
   their leases freed);
2. send every ``POST /calls/start`` at once;
3. record what each request did, a few statements for the whole wave:
   - accepted → store call_id/session_id, hold the slot until the call ends;
   - certainly not sent (429, connect error) → give the attempt back, free the slot, and on
     429 make the whole fleet cool down and lower the limit that was hit;
   - refused for the whole campaign (401/403/agent missing) → pause the campaign;
   - refused for this number (400) → the contact fails with the reason;
   - fate unknown (timeout, 5xx) → ``unknown``: the reconciler finds out, never a blind
     redial.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.control.campaign_moves import pause_for_error
from campaign_engine.db.models import WebhookEvent
from campaign_engine.dialer import attempts
from campaign_engine.dialer.targets import DialTarget
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.limits.backpressure import after_refusals
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.outcomes.record import CallReport, record_outcomes
from campaign_engine.runtime import Runtime
from campaign_engine.vocobase.errors import APIError, RateLimited, VocobaseError, is_campaign_fatal
from campaign_engine.vocobase.schemas import StartCallRequest, StartedCall
from campaign_engine.webhooks import inbox
from campaign_engine.webhooks.apply import process_event

log = logging.getLogger(__name__)

Sent = tuple[DialTarget, int]  # a claimed target and its attempt id


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


async def run_wave(runtime: Runtime, wave: Sequence[DialTarget]) -> Counter[str]:
    """Claim, start and record ``wave`` (one campaign's contacts whose leases are held)."""
    tally: Counter[str] = Counter()
    slot_names = slot_names_for(wave[0].provider, wave[0].campaign_id)
    async with runtime.sessions() as session, session.begin():
        claimed = await attempts.claim(
            session, wave, margin_seconds=runtime.settings.limits.slot_margin_seconds
        )
    lost = [target.lease for target in wave if target.contact_id not in claimed]
    if lost:
        await runtime.limiter.release_many([(slot_names, lease) for lease in lost])
        tally["claimed-elsewhere"] += len(lost)
    sent = [(t, claimed[t.contact_id]) for t in wave if t.contact_id in claimed]
    if not sent:
        return tally
    answers = await asyncio.gather(*(_start(runtime, target, aid) for target, aid in sent))
    started = [(s, a) for s, a in zip(sent, answers, strict=True) if isinstance(a, StartedCall)]
    failed = [(s, a) for s, a in zip(sent, answers, strict=True) if isinstance(a, VocobaseError)]
    if started:
        await _record_started(runtime, started, slot_names)
        tally["started"] += len(started)
    if failed:
        tally.update(await _record_failed(runtime, failed, slot_names))
    return tally


async def _start(
    runtime: Runtime, target: DialTarget, attempt_id: int
) -> StartedCall | VocobaseError:
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
        return await runtime.vocobase.start_call(request)
    except VocobaseError as exc:
        return exc


def _call_ttl_ms(runtime: Runtime, target: DialTarget) -> int:
    return int((target.max_call_seconds + runtime.settings.limits.slot_margin_seconds) * 1000)


async def _record_started(
    runtime: Runtime, started: list[tuple[Sent, StartedCall]], slot_names: tuple[str, ...]
) -> None:
    """The calls may exist now: hold their slots for a whole call, store their ids, and
    apply any webhook that beat the start response."""
    target = started[0][0][0]
    leases = [sent[0].lease for sent, _ in started]
    await runtime.limiter.extend_many(slot_names, leases, _call_ttl_ms(runtime, target))
    ids = [(aid, call.call_id, call.session_id) for (_, aid), call in started]
    async with runtime.sessions() as session, session.begin():
        calling = await attempts.mark_started_many(session, ids)
        state_log.note(
            session,
            (
                Change(
                    "attempt", "started", t.campaign_id, t.contact_id, aid, f"call {call.call_id}"
                )
                for (t, aid), call in started
                if t.contact_id in calling
            ),
        )
        early = await _waiting_events(session, ids)
    for event_id in early:
        await process_event(runtime, event_id)


async def _waiting_events(
    session: AsyncSession, ids: Sequence[tuple[int, str, str | None]]
) -> list[int]:
    """Events for these calls still waiting to be applied (they beat the start response)."""
    call_ids = [call_id for _, call_id, _ in ids]
    session_ids = [session_id for _, _, session_id in ids if session_id]
    found = await session.scalars(
        select(WebhookEvent.id).where(
            or_(WebhookEvent.call_id.in_(call_ids), WebhookEvent.session_id.in_(session_ids)),
            WebhookEvent.status.in_([inbox.RECEIVED, inbox.UNMATCHED]),
        )
    )
    return list(found.all())


async def _record_failed(
    runtime: Runtime, failed: list[tuple[Sent, VocobaseError]], slot_names: tuple[str, ...]
) -> Counter[str]:
    by_kind: dict[str, list[tuple[Sent, VocobaseError]]] = defaultdict(list)
    for sent, exc in failed:
        by_kind[_kind(exc)].append((sent, exc))
    if unknown := by_kind.get("unknown"):
        leases = [target.lease for (target, _), _ in unknown]
        target = unknown[0][0][0]
        await runtime.limiter.extend_many(slot_names, leases, _call_ttl_ms(runtime, target))
        async with runtime.sessions() as session, session.begin():
            for error, attempt_ids in _by_error(unknown).items():
                await attempts.mark_unknown(session, attempt_ids, error=error)
        for (_, attempt_id), exc in unknown:
            log.warning("start of attempt %s has an unknown fate: %s", attempt_id, exc)
    if limited := by_kind.get("rate-limited"):
        refusals = [exc for _, exc in limited if isinstance(exc, RateLimited)]
        cooldown = await after_refusals(runtime, refusals)
        await _give_back(runtime, limited, slot_names, delay=cooldown)
    if fatal := by_kind.get("campaign-paused"):
        await _give_back(runtime, fatal, slot_names, delay=0)
        (target, _), exc = fatal[0]
        async with runtime.sessions() as session, session.begin():
            await pause_for_error(session, target.campaign_id, str(exc))
    if rejected := by_kind.get("rejected"):
        reports = [
            (aid, CallReport(None, outcome=Outcome.REJECTED, error=str(exc)))
            for (_, aid), exc in rejected
        ]
        async with runtime.sessions() as session, session.begin():
            recorded = await record_outcomes(session, reports)
        await runtime.limiter.release_many(
            [(one.slot_names, one.lease) for one in recorded if one.applied]
        )
    if not_sent := by_kind.get("not-sent"):
        await _give_back(runtime, not_sent, slot_names, delay=0)
    return Counter({kind: len(group) for kind, group in by_kind.items()})


def _kind(exc: VocobaseError) -> str:
    if exc.maybe_sent:
        return "unknown"
    if isinstance(exc, RateLimited):
        return "rate-limited"
    if isinstance(exc, APIError) and is_campaign_fatal(exc):
        return "campaign-paused"
    if isinstance(exc, APIError):
        return "rejected"
    return "not-sent"


def _by_error(group: list[tuple[Sent, VocobaseError]]) -> dict[str, list[int]]:
    by_error: dict[str, list[int]] = defaultdict(list)
    for (_, attempt_id), exc in group:
        by_error[str(exc)].append(attempt_id)
    return by_error


async def _give_back(
    runtime: Runtime,
    group: list[tuple[Sent, VocobaseError]],
    slot_names: tuple[str, ...],
    *,
    delay: float,
) -> None:
    """Requests that certainly never placed a call: the attempts cost nothing."""
    async with runtime.sessions() as session, session.begin():
        for error, attempt_ids in _by_error(group).items():
            await attempts.mark_not_sent(session, attempt_ids, error=error, delay_seconds=delay)
    await runtime.limiter.release_many([(slot_names, target.lease) for (target, _), _ in group])
