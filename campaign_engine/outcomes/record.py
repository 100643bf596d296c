"""Record how a call ended, from a webhook or from polling, through one forward-only path.

Both the webhook processor and the reconciler call :func:`record_outcomes` (or its
one-attempt form :func:`record_outcome`); whichever comes second finds the attempt already
final and changes nothing, so duplicates, replays and late events are harmless. The
contact's next step comes from the campaign's retry policy
(:mod:`~campaign_engine.outcomes.retry`).

A batch costs a fixed number of statements however many attempts it holds: the outcome
details (one executemany UPDATE, guarded by the attempt being in a state that may move to
the final one, :func:`~campaign_engine.states.sources_of`), the move to the final state (one
UPDATE ... RETURNING, the same guard: what it returns is exactly what this transaction
concluded), the contacts' next steps and the notifications.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.campaigns.outcome_classes import Outcome, classify
from campaign_engine.campaigns.retry_policy import Decision
from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.limits.limiter import lease_name
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.notifications.emit import emit_outcomes
from campaign_engine.outcomes.retry import decide_next
from campaign_engine.states import AttemptState, sources_of, state_values

# How an attempt's outcome was learned (call_attempts.outcome_source).
WEBHOOK = "webhook"
POLL = "poll"  # decided from GET /calls/{id} after waiting for the webhook in vain
ENGINE = "engine"  # the engine knows it: a refused start, an expired attempt
POLL_THEN_WEBHOOK = "poll+webhook"  # decided from a poll; the late webhook enriched it


@dataclass(frozen=True)
class CallReport:
    """What Vocobase told us about a finished call, whichever way it arrived."""

    call_status: str | None
    disposition: str | None = None
    answered_by: str | None = None
    call_id: str | None = None
    session_id: str | None = None
    duration_seconds: float | None = None
    credits_used: float | None = None
    recording_url: str | None = None
    extraction: dict[str, Any] | None = None
    transcript: list[Any] | None = None
    ended_at: datetime | None = None
    error: str | None = None
    # Set when the engine knows the class itself (e.g. Vocobase refused the number).
    outcome: Outcome | None = None
    # Where it came from: the webhook, or a poll (decided without the webhook).
    source: str = WEBHOOK


@dataclass(frozen=True)
class Recorded:
    """The result of recording; ``applied`` is False when the attempt was already final."""

    applied: bool
    attempt_id: int
    contact_id: int
    outcome: Outcome | None = None
    decision: Decision | None = None
    lease: str = ""
    slot_names: tuple[str, ...] = ()


_attempts = cast(Table, CallAttempt.__table__)
# Filled only when still empty: a webhook that beat the start response carries the ids.
_KEEP_FIRST = ("call_id", "session_id")
# Kept when the report has none.
_KEEP_UNLESS_GIVEN = ("error",)


def _ended_values(report: CallReport, now: datetime) -> dict[str, Any]:
    return {
        "call_status": report.call_status,
        "disposition": report.disposition,
        "answered_by": report.answered_by,
        "duration_seconds": report.duration_seconds,
        "credits_used": report.credits_used,
        "recording_url": report.recording_url,
        "extraction": report.extraction,
        "transcript": report.transcript,
        "ended_at": report.ended_at or now,
        "outcome": (report.outcome or classify(report.call_status, report.disposition)).value,
        "outcome_source": ENGINE if report.outcome else report.source,
        "error": report.error,
        "call_id": report.call_id,
        "session_id": report.session_id,
    }


async def record_outcome(session: AsyncSession, attempt_id: int, report: CallReport) -> Recorded:
    """Apply ``report`` to the attempt and decide the contact's next step (idempotent)."""
    [recorded] = await record_outcomes(session, [(attempt_id, report)])
    return recorded


async def record_outcomes(
    session: AsyncSession, reports: Sequence[tuple[int, CallReport]]
) -> list[Recorded]:
    """:func:`record_outcome` for several attempts (distinct ids), in as many statements as
    for one; the results in the same order."""
    now = utcnow()
    values = [(attempt_id, _ended_values(report, now)) for attempt_id, report in reports]
    return await _conclude(session, AttemptState.ENDED, values, now)


async def expire_attempt(session: AsyncSession, attempt_id: int, reason: str) -> Recorded:
    """No outcome could be learned in time: close the attempt; the contact is not redialed
    (the call may have reached the person)."""
    [recorded] = await expire_attempts(session, [(attempt_id, reason)])
    return recorded


async def expire_attempts(
    session: AsyncSession, reasons: Sequence[tuple[int, str]]
) -> list[Recorded]:
    """:func:`expire_attempt` for several attempts (distinct ids)."""
    now = utcnow()
    values = [
        (
            attempt_id,
            {
                "outcome": Outcome.UNKNOWN.value,
                "error": reason,
                "ended_at": now,
                "outcome_source": ENGINE,
            },
        )
        for attempt_id, reason in reasons
    ]
    return await _conclude(session, AttemptState.EXPIRED, values, now)


def contact_rounds(contact_of: dict[int, int], attempt_ids: list[int]) -> list[list[int]]:
    """Split attempt ids so that no round holds two attempts of one contact (plain): a
    contact's history must be read after each of its attempts, one at a time."""
    rounds: list[list[int]] = []
    taken: list[set[int]] = []
    for attempt_id in attempt_ids:
        contact_id = contact_of[attempt_id]
        index = next((i for i, seen in enumerate(taken) if contact_id not in seen), len(rounds))
        if index == len(rounds):
            rounds.append([])
            taken.append(set())
        rounds[index].append(attempt_id)
        taken[index].add(contact_id)
    return rounds


def _details_statement(state: AttemptState, columns: Sequence[str]) -> Any:
    """UPDATE of the outcome's columns of one attempt that may move to ``state``
    (parameters per attempt)."""
    assignments: dict[str, Any] = {}
    for name in columns:
        given = bindparam(f"v_{name}", type_=_attempts.c[name].type)
        if name in _KEEP_FIRST:
            assignments[name] = func.coalesce(_attempts.c[name], given)
        elif name in _KEEP_UNLESS_GIVEN:
            assignments[name] = func.coalesce(given, _attempts.c[name])
        else:
            assignments[name] = given
    return (
        update(_attempts)
        .where(
            _attempts.c.id == bindparam("b_id"),
            # executemany takes no IN lists
            or_(*(_attempts.c.state == source for source in state_values(sources_of(state)))),
        )
        .values(assignments)
    )


async def _conclude(
    session: AsyncSession,
    state: AttemptState,
    values: list[tuple[int, dict[str, Any]]],
    now: datetime,
) -> list[Recorded]:
    ids = [attempt_id for attempt_id, _ in values]
    if len(set(ids)) != len(ids):
        raise ValueError("each attempt may be concluded once per batch")
    if not ids:
        return []
    contact_of: dict[int, int] = {
        row.id: row.contact_id
        for row in await session.execute(
            select(CallAttempt.id, CallAttempt.contact_id).where(CallAttempt.id.in_(ids))
        )
    }
    missing = [attempt_id for attempt_id in ids if attempt_id not in contact_of]
    if missing:
        raise LookupError(f"attempt {missing[0]} does not exist")
    by_id = dict(values)
    recorded: dict[int, Recorded] = {}
    for round_ids in contact_rounds(contact_of, sorted(ids)):
        batch = [(attempt_id, by_id[attempt_id]) for attempt_id in round_ids]
        for one in await _conclude_round(session, state, batch, now):
            recorded[one.attempt_id] = one
    return [
        recorded.get(attempt_id) or Recorded(False, attempt_id, contact_of[attempt_id])
        for attempt_id in ids
    ]


async def _conclude_round(
    session: AsyncSession,
    state: AttemptState,
    values: list[tuple[int, dict[str, Any]]],
    now: datetime,
) -> list[Recorded]:
    """Conclude attempts of distinct contacts; the Recorded of those this call moved."""
    columns = list(values[0][1])
    await session.execute(
        _details_statement(state, columns),
        [
            {"b_id": attempt_id, **{f"v_{name}": row[name] for name in columns}}
            for attempt_id, row in values
        ],
    )
    moved = (
        await session.scalars(
            update(CallAttempt)
            .where(CallAttempt.id.in_([attempt_id for attempt_id, _ in values]))
            .where(CallAttempt.state.in_(state_values(sources_of(state))))
            .values(state=state.value)
            .returning(CallAttempt)
            .execution_options(populate_existing=True, synchronize_session=False)
        )
    ).all()
    if not moved:
        return []
    decisions = await decide_next(session, moved, now)
    await emit_outcomes(session, [(attempt, decisions[attempt.id]) for attempt in moved])
    state_log.note(session, (_change(attempt, decisions[attempt.id]) for attempt in moved))
    return [_recorded(attempt, decisions[attempt.id]) for attempt in moved]


def _change(attempt: CallAttempt, decision: Decision) -> Change:
    """``ended: no_answer; contact retrying (<the retry policy's reason>)``."""
    next_state = decision.final_state.value if decision.final_state else "retrying"
    detail = f"{attempt.outcome}; contact {next_state} ({decision.reason})"
    if attempt.error:
        detail += f"; {attempt.error}"
    return Change(
        "attempt", attempt.state, attempt.campaign_id, attempt.contact_id, attempt.id, detail
    )


def _recorded(attempt: CallAttempt, decision: Decision) -> Recorded:
    return Recorded(
        True,
        attempt.id,
        attempt.contact_id,
        Outcome(attempt.outcome or Outcome.UNKNOWN),
        decision,
        lease=lease_name(attempt.contact_id, attempt.attempt_number),
        slot_names=slot_names_for(attempt.provider, attempt.campaign_id),
    )
