"""Outcome fidelity: does the engine record what Vocobase says happened, under faults?

The simulator at its documented defaults (10 ``/calls/*`` requests a minute, concurrency 5,
the default outcome mix with voicemail and user_hangup_no_speech), post-call processing of
5-60 s, 30% of webhooks dropped and 20% sent twice, 5% of starts answering 500 (half of them
having placed the call) and 3% of starts answering after the engine's request timeout;
voicemail, no answer and busy are retried once. Time is scaled (see ``bench.contract_run``).

Measured against the simulator's ledger, call by call (matched by ``call_id``):

- status: the attempt's ``call_status`` equals the call's final status (every call placed);
- disposition and answered_by, for every call whose webhook was delivered;
- calls placed with no attempt carrying their ``call_id``;
- double dials: two calls to one number alive at once, or a number called more times than
  its attempts that reached Vocobase (not refused with 429/400, not ``not_sent``/``lost``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from itertools import pairwise
from typing import Any

from bench.contract_run import (
    AttemptRow,
    RunResult,
    Scenario,
    retry_once,
    run_scenario,
    settings_note,
)
from bench.support import throwaway_postgres
from campaign_engine.simulator.ledger import LedgerCall

SPEEDUP = 20.0
RETRY_DELAY_SECONDS = 30.0  # unscaled
FAULTS: dict[str, Any] = {
    "processing_seconds": (5.0, 60.0),
    "p_drop_webhook": 0.3,
    "p_duplicate_webhook": 0.2,
    "p_5xx": 0.05,
    "p_5xx_places_call": 0.5,
    "p_slow": 0.03,
}
# Attempts that certainly placed no call at Vocobase.
NOT_REACHED_STATES = {"not_sent", "lost"}
NOT_REACHED_KINDS = {"rate_limited", "concurrency_limited", "rejected", "refused"}
SHOWN = 8


async def run(smoke: bool) -> dict[str, Any]:
    scenario = Scenario(
        contacts=20 if smoke else 100,
        speedup=SPEEDUP,
        faults=FAULTS,
        retry=retry_once(RETRY_DELAY_SECONDS / SPEEDUP),
        timeout_seconds=150 if smoke else 400,
    )
    async with throwaway_postgres() as database_url:
        result = await run_scenario(scenario, database_url)
    measures = fidelity(result)
    targets_met = (
        measures["status_match_pct"] == 100.0
        and measures["disposition_match_pct"] == 100.0
        and measures["calls_without_attempt"] == 0
        and measures["double_dials"] == 0
    )
    return {
        "ok": result.completed,
        "contacts": scenario.contacts,
        **measures,
        "targets": {
            "status_match_pct": 100,
            "disposition_match_pct": 100,
            "calls_without_attempt": 0,
            "double_dials": 0,
        },
        "targets_met": result.completed and targets_met,
        "completed": result.completed,
        "wall_seconds": round(result.wall_seconds, 2),
        "makespan_unscaled_s": _unscaled(result),
        "limits": result.limits(),
        "faults": {**FAULTS, "retry_delay_unscaled_s": RETRY_DELAY_SECONDS},
        "scaling": settings_note(scenario),
    }


def fidelity(result: RunResult) -> dict[str, Any]:
    calls = result.ledger.calls
    by_call = {a.call_id: a for a in result.attempts if a.call_id}
    status_ok = [c for c in calls if _status_matches(c, by_call.get(c.call_id))]
    delivered = [c for c in calls if not c.dropped and c.webhook_deliveries > 0]
    disposition_ok = [c for c in delivered if _disposition_matches(c, by_call.get(c.call_id))]
    missing = [c for c in calls if c.call_id not in by_call]
    overlapping, over_called = _double_dials(calls, result.attempts)
    status_bad = [c for c in calls if c not in status_ok]
    disposition_bad = [c for c in delivered if c not in disposition_ok]
    dropped = [c for c in calls if c.webhook_deliveries == 0]
    return {
        "calls_placed": len(calls),
        "attempts": len(result.attempts),
        "status_match_pct": _pct(len(status_ok), len(calls)),
        "status_mismatches": len(status_bad),
        "webhooks_delivered": len(delivered),
        "disposition_match_pct": _pct(len(disposition_ok), len(delivered)),
        "disposition_mismatches": len(disposition_bad),
        "calls_without_attempt": len(missing),
        "double_dials": len(overlapping) + len(over_called),
        "overlapping_calls_same_number": len(overlapping),
        "numbers_called_more_than_attempts_reached": len(over_called),
        "calls_without_webhook": len(dropped),
        "without_webhook_disposition_match_pct": _pct(
            sum(_disposition_matches(c, by_call.get(c.call_id)) for c in dropped), len(dropped)
        ),
        "outcome_sources": dict(Counter(a.outcome_source for a in result.attempts)),
        "attempt_states": dict(Counter(a.state for a in result.attempts)),
        "examples": {
            "status_mismatch": [_show(c, by_call.get(c.call_id)) for c in status_bad[:SHOWN]],
            "disposition_mismatch": [
                _show(c, by_call.get(c.call_id)) for c in disposition_bad[:SHOWN]
            ],
            "without_attempt": [_show(c, None) for c in missing[:SHOWN]],
            "overlapping": overlapping[:SHOWN],
            "over_called": over_called[:SHOWN],
        },
    }


def _status_matches(call: LedgerCall, attempt: AttemptRow | None) -> bool:
    return attempt is not None and attempt.call_status == call.status


def _disposition_matches(call: LedgerCall, attempt: AttemptRow | None) -> bool:
    return (
        attempt is not None
        and attempt.disposition == call.disposition
        and attempt.answered_by == call.answered_by
    )


def _reached(attempt: AttemptRow) -> bool:
    return attempt.state not in NOT_REACHED_STATES and (
        attempt.failure_kind not in NOT_REACHED_KINDS
    )


def _double_dials(
    calls: list[LedgerCall], attempts: list[AttemptRow]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    per_number: dict[str, list[LedgerCall]] = defaultdict(list)
    for call in calls:
        per_number[call.to_number].append(call)
    reached = Counter(a.to_number for a in attempts if _reached(a))
    overlapping: list[dict[str, Any]] = []
    over_called: list[dict[str, Any]] = []
    for number, placed in per_number.items():
        placed.sort(key=lambda call: call.created_at)
        for earlier, later in pairwise(placed):
            if earlier.ended_at is None or later.created_at < earlier.ended_at:
                overlapping.append({"to_number": number, "calls": [earlier.call_id, later.call_id]})
        if len(placed) > reached[number]:
            over_called.append(
                {
                    "to_number": number,
                    "calls": len(placed),
                    "attempts_reached": reached[number],
                    "attempts": [_attempt_view(a) for a in attempts if a.to_number == number],
                }
            )
    return overlapping, over_called


def _attempt_view(attempt: AttemptRow | None) -> dict[str, Any] | None:
    if attempt is None:
        return None
    return {
        "n": attempt.attempt_number,
        "call_id": attempt.call_id,
        "state": attempt.state,
        "call_status": attempt.call_status,
        "disposition": attempt.disposition,
        "answered_by": attempt.answered_by,
        "outcome": attempt.outcome,
        "source": attempt.outcome_source,
        "failure_kind": attempt.failure_kind,
    }


def _show(call: LedgerCall, attempt: AttemptRow | None) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "to_number": call.to_number,
        "sim": {
            "status": call.status,
            "disposition": call.disposition,
            "answered_by": call.answered_by,
            "webhook_deliveries": call.webhook_deliveries,
            "dropped": call.dropped,
        },
        "engine": _attempt_view(attempt),
    }


def _pct(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


def _unscaled(result: RunResult) -> float | None:
    span = result.makespan_seconds
    return None if span is None else round(span * result.scenario.speedup, 1)
