"""One wave of a dial job: contacts whose limits are taken, claimed, started together.

1. claim their attempts in a committed transaction, with the last checks of each number
   (those someone else has are dropped and their leases freed; those the do-not-call list,
   the daily cap or a call in progress to the number refuses are closed or handed back);
2. send every ``POST /calls/start`` at once;
3. record what each request did, a few statements for the whole wave:
   - accepted → store call_id/session_id, hold the slot until the call ends;
   - certainly not sent (429, connect error) → give the attempt back, free the slot, and on
     429 make the whole fleet cool down and lower the limit that was hit;
   - refused for the whole campaign (401/403/agent missing) → pause the campaign;
   - refused for this number (400) → the contact fails with the reason;
   - refused with a status the docs do not describe (409, 422, …) → the attempt failed and
     the retry policy decides, like any failed call (never a contact failed for good);
   - fate unknown (timeout, 5xx, an answer the client could not read, any other error) →
     ``unknown``: the reconciler finds out, never a blind redial.

Every placed call is recorded whatever else goes wrong in the wave: a request that raised
something unexpected is one of unknown fate, the others are recorded as usual. The call ids
are stored before the slots are extended in Redis, so a Redis failure cannot make a placed
call look unplaced. A worker that stalled after its claim sends nothing once the claim is
older than :data:`SEND_WITHIN`: the reconciler may already be treating the attempt as an
orphan, and a late start could dial a contact it has handed back.

Each failure's :class:`~campaign_engine.failure_kinds.FailureKind` is stored on its attempt
and its contact, so readers never search the error text for what it was.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.contacts.columns import is_kept
from campaign_engine.control.campaign_moves import pause_for_error
from campaign_engine.db.models import CallAttempt, Contact, WebhookEvent
from campaign_engine.dialer import attempts
from campaign_engine.dialer.claim import claim_checked
from campaign_engine.dialer.targets import DialTarget
from campaign_engine.failure_kinds import FailureKind, of_429
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.limits.backpressure import after_refusals, judge_refusals
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.outcomes.record import CallReport, Recorded, record_outcomes
from campaign_engine.runtime import Runtime
from campaign_engine.states import INBOX_ACTIVE, state_values
from campaign_engine.vocobase.errors import (
    AmbiguousError,
    APIError,
    BadRequest,
    NotFound,
    RateLimited,
    RequestNotSent,
    VocobaseError,
    is_campaign_fatal,
)
from campaign_engine.vocobase.schemas import StartCallRequest, StartedCall
from campaign_engine.webhooks.apply import process_event

log = logging.getLogger(__name__)

# A start request is sent within this long of its claim, or not at all. The reconciler takes
# an attempt still ``dialing`` a request's whole time plus 5 s after its claim for orphaned.
SEND_WITHIN = timedelta(seconds=4)

Sent = tuple[DialTarget, int]  # a claimed target and its attempt id


def call_variables(
    variables: dict[str, Any], declared: list[str] | None, correlation: str, attempt_id: int
) -> dict[str, str]:
    """The variables to send: only names the agent declares (when known), as strings, plus
    the engine's attempt id when the agent declares the correlation variable."""
    chosen = {
        name: "" if value is None else str(value)
        for name, value in variables.items()
        if (declared is None or name in declared) and not is_kept(name)
    }
    if declared is not None and correlation in declared:
        chosen[correlation] = str(attempt_id)
    return chosen


async def run_wave(runtime: Runtime, wave: Sequence[DialTarget]) -> Counter[str]:
    """Claim, start and record ``wave`` (one campaign's contacts whose leases are held)."""
    tally: Counter[str] = Counter()
    slot_names = slot_names_for(wave[0].provider, wave[0].campaign_id)
    # The worker's own stall, measured on its monotonic clock (never a driven one).
    claim_began = time.monotonic()
    async with runtime.sessions() as session, session.begin():
        checked = await claim_checked(
            session,
            wave,
            margin_seconds=runtime.settings.limits.slot_margin_seconds,
            daily_cap=runtime.settings.compliance.max_attempts_per_number_per_day,
        )
        claimed = checked.won
        await _forget_failure_kinds(session, list(claimed))
        # Refused at the claim (recorded there): their leases are theirs to free.
        refused = [target for target in wave if target.contact_id in checked.refused]
        lost = [
            t for t in wave if t.contact_id not in claimed and t.contact_id not in checked.refused
        ]
        # A contact whose attempt of the same number another job claimed (two jobs for one
        # contact after Redis lost its queue): the lease of that name is the winner's.
        theirs = await _claimed_by_others(session, lost)
    mine = [t.lease for t in (*lost, *refused) if t.contact_id not in theirs]
    if mine:
        await runtime.limiter.release_many([(slot_names, lease) for lease in mine])
    if lost:
        tally["claimed-elsewhere"] += len(lost)
    tally.update(checked.tally())
    sent = [(t, claimed[t.contact_id]) for t in wave if t.contact_id in claimed]
    if not sent:
        return tally
    answers = await asyncio.gather(
        *(_start(runtime, target, aid, claim_began) for target, aid in sent)
    )
    started = [(s, a) for s, a in zip(sent, answers, strict=True) if isinstance(a, StartedCall)]
    failed = [(s, a) for s, a in zip(sent, answers, strict=True) if isinstance(a, VocobaseError)]
    if started:
        await _record_started(runtime, started, slot_names)
        tally["started"] += len(started)
    if failed:
        tally.update(await _record_failed(runtime, failed, slot_names))
    return tally


async def _claimed_by_others(session: AsyncSession, lost: Sequence[DialTarget]) -> set[int]:
    """Of contacts this wave did not win, those whose attempt of the number it tried to claim
    exists (another job won it)."""
    if not lost:
        return set()
    rows = await session.execute(
        select(Contact.id, Contact.attempts_count).where(
            Contact.id.in_([target.contact_id for target in lost])
        )
    )
    counts = {row.id: row.attempts_count for row in rows}
    return {
        target.contact_id
        for target in lost
        if counts.get(target.contact_id, 0) >= target.next_attempt_number
    }


async def _start(
    runtime: Runtime, target: DialTarget, attempt_id: int, claim_began: float
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
    path = "/calls/start"
    if time.monotonic() - claim_began > SEND_WITHIN.total_seconds():
        stalled = (
            f"not sent: the worker stalled {SEND_WITHIN.total_seconds():.0f}s+ after the claim"
        )
        return RequestNotSent(stalled, method="POST", path=path)
    try:
        return await runtime.vocobase.start_call(request)
    except VocobaseError as exc:
        return exc
    except Exception as exc:  # the request went out; what came back could not be read
        log.exception("start of attempt %s raised %s", attempt_id, type(exc).__name__)
        return AmbiguousError(f"{type(exc).__name__}: {exc}", method="POST", path=path)


def _call_ttl_ms(runtime: Runtime, target: DialTarget) -> int:
    return int((target.max_call_seconds + runtime.settings.limits.slot_margin_seconds) * 1000)


async def _record_started(
    runtime: Runtime, started: list[tuple[Sent, StartedCall]], slot_names: tuple[str, ...]
) -> None:
    """The calls may exist now: hold their slots for a whole call, store their ids, and
    apply any webhook that beat the start response."""
    target = started[0][0][0]
    leases = [sent[0].lease for sent, _ in started]
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
    await _extend(runtime, slot_names, leases, _call_ttl_ms(runtime, target))
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
            WebhookEvent.status.in_(state_values(INBOX_ACTIVE)),
        )
    )
    return list(found.all())


async def _record_failed(
    runtime: Runtime, failed: list[tuple[Sent, VocobaseError]], slot_names: tuple[str, ...]
) -> Counter[str]:
    # Which limit each 429 hit decides how it is stored: judged before grouping.
    await judge_refusals(runtime, [exc for _, exc in failed if isinstance(exc, RateLimited)])
    by_kind: dict[str, list[tuple[Sent, VocobaseError]]] = defaultdict(list)
    for sent, exc in failed:
        by_kind[_kind(exc)].append((sent, exc))
    if unknown := by_kind.get("unknown"):
        leases = [target.lease for (target, _), _ in unknown]
        target = unknown[0][0][0]
        async with runtime.sessions() as session, session.begin():
            for (error, _), attempt_ids in _by_error(unknown).items():
                await attempts.mark_unknown(session, attempt_ids, error=error)
        await _extend(runtime, slot_names, leases, _call_ttl_ms(runtime, target))
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
            await _note_rejected(session, [one for one in recorded if one.applied])
        await runtime.limiter.release_many(
            [(one.slot_names, one.lease) for one in recorded if one.applied]
        )
    if refused := by_kind.get("refused"):
        reports = [
            (aid, CallReport(None, outcome=Outcome.FAILED, error=str(exc)))
            for (_, aid), exc in refused
        ]
        async with runtime.sessions() as session, session.begin():
            recorded = await record_outcomes(session, reports)
            await _note_kind(session, [one for one in recorded if one.applied], FailureKind.REFUSED)
        await runtime.limiter.release_many(
            [(one.slot_names, one.lease) for one in recorded if one.applied]
        )
    if not_sent := by_kind.get("not-sent"):
        await _give_back(runtime, not_sent, slot_names, delay=0)
    return Counter({kind: len(group) for kind, group in by_kind.items()})


def failure_kind_of(exc: VocobaseError) -> FailureKind:
    """What a failed start request was, as stored on its attempt and contact."""
    if exc.maybe_sent:
        return FailureKind.UNKNOWN
    if isinstance(exc, RateLimited):
        return of_429(exc.kind)
    if isinstance(exc, APIError) and is_campaign_fatal(exc):
        return FailureKind.CAMPAIGN_PAUSED
    if isinstance(exc, BadRequest | NotFound):
        return FailureKind.REJECTED
    if isinstance(exc, APIError):
        return FailureKind.REFUSED
    return FailureKind.NOT_SENT


# The group (and tally name) each kind of failed start is handled in.
_GROUPS = {
    FailureKind.UNKNOWN: "unknown",
    FailureKind.RATE_LIMITED: "rate-limited",
    FailureKind.CONCURRENCY_LIMITED: "rate-limited",
    FailureKind.CAMPAIGN_PAUSED: "campaign-paused",
    FailureKind.REJECTED: "rejected",
    FailureKind.REFUSED: "refused",
    FailureKind.NOT_SENT: "not-sent",
}


def _kind(exc: VocobaseError) -> str:
    return _GROUPS[failure_kind_of(exc)]


def _by_error(
    group: list[tuple[Sent, VocobaseError]],
) -> dict[tuple[str, FailureKind], list[int]]:
    by_error: dict[tuple[str, FailureKind], list[int]] = defaultdict(list)
    for (_, attempt_id), exc in group:
        by_error[str(exc), failure_kind_of(exc)].append(attempt_id)
    return by_error


async def _forget_failure_kinds(session: AsyncSession, contact_ids: list[int]) -> None:
    """Claimed contacts are on a fresh attempt: the kind of their last failure no longer
    describes them (their ``last_error`` is replaced when that attempt concludes)."""
    if contact_ids:
        await session.execute(
            update(Contact)
            .where(Contact.id.in_(contact_ids), Contact.last_failure_kind.is_not(None))
            .values(last_failure_kind=None)
            .execution_options(synchronize_session=False)
        )


async def _note_rejected(session: AsyncSession, recorded: list[Recorded]) -> None:
    await _note_kind(session, recorded, FailureKind.REJECTED)


async def _note_kind(session: AsyncSession, recorded: list[Recorded], kind: FailureKind) -> None:
    """The kind of the refused starts' attempts, and of their contacts' ``last_error`` (the
    outcome's path wrote the refusal there)."""
    if not recorded:
        return
    outcome = Outcome.REJECTED if kind is FailureKind.REJECTED else Outcome.FAILED
    await session.execute(
        update(CallAttempt)
        .where(CallAttempt.id.in_([one.attempt_id for one in recorded]))
        .values(failure_kind=kind.value)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Contact)
        .where(
            Contact.id.in_([one.contact_id for one in recorded]),
            Contact.last_outcome == outcome.value,
        )
        .values(last_failure_kind=kind.value)
        .execution_options(synchronize_session=False)
    )


async def _extend(
    runtime: Runtime, slot_names: tuple[str, ...], leases: list[str], ttl_ms: int
) -> None:
    """Hold the slots of calls that may exist for a whole call. After their ids are stored:
    a Redis failure here leaves their short leases to run out, never a placed call looking
    unplaced (the reconciler holds the slots of live calls again)."""
    try:
        await runtime.limiter.extend_many(slot_names, leases, ttl_ms)
    except (RedisError, OSError) as exc:
        log.warning("could not extend %d leases in Redis: %s", len(leases), exc)


async def _give_back(
    runtime: Runtime,
    group: list[tuple[Sent, VocobaseError]],
    slot_names: tuple[str, ...],
    *,
    delay: float,
) -> None:
    """Requests that certainly never placed a call: the attempts cost nothing."""
    async with runtime.sessions() as session, session.begin():
        for (error, kind), attempt_ids in _by_error(group).items():
            await attempts.mark_not_sent(
                session, attempt_ids, error=error, kind=kind, delay_seconds=delay
            )
    await runtime.limiter.release_many([(slot_names, target.lease) for (target, _), _ in group])
