"""Makespan efficiency: how close does a campaign come to the shortest time Vocobase's limits
allow for the calls it placed?

The issue's setting: Vocobase limits of 600 ``/calls/*`` requests a minute and concurrency
10, 100 contacts, 2 worker processes; otherwise the simulator's documented defaults (its
ring, talk and post-call processing times and outcome mix), time scaled so a run takes
seconds. Voicemail, no answer and busy are retried once after ``RETRY_DELAY_SECONDS``.

The lower bound, from the simulator's own ledger, is the largest of

(a) calls placed / the allowed start rate,
(b) the sum of call lifetimes (``created_at`` -> ``ended_at``) / concurrency,
(c) the longest chain of one number's calls: their lifetimes plus the retry delay between.

Efficiency = bound / the engine's time from campaign start to completion (its
``started_at`` -> ``finished_at``), once without faults and once with 30% of webhooks dropped.
Target >= 0.8 for both. The bound leaves out post-call processing, which no engine can skip
at the end of a campaign (the last outcomes wait for it); ``tail_unscaled_s`` shows how long
the campaign ran after its last call ended, ``first_call_after_start_unscaled_s`` how long
before its first call was placed. Calls keep the default ring and talk times: a speedup of 10
makes a run take well under a minute while the engine's own (unscaled) latencies stay small
next to the calls.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench.contract_run import RunResult, Scenario, retry_once, run_scenario, settings_note
from bench.support import throwaway_postgres

SPEEDUP = 10.0
REQUESTS_PER_MINUTE = 600
CONCURRENCY = 10
RETRY_DELAY_SECONDS = 30.0  # unscaled
TARGET = 0.8


async def run(smoke: bool) -> dict[str, Any]:
    contacts = 30 if smoke else 100
    async with throwaway_postgres() as database_url:
        clean = await _run(database_url, contacts, p_drop_webhook=0.0)
        dropped = await _run(database_url, contacts, p_drop_webhook=0.3)
    efficiencies = [clean["efficiency"], dropped["efficiency"]]
    completed = bool(clean["completed"] and dropped["completed"])
    return {
        "ok": completed,
        "contacts": contacts,
        "efficiency_fault_free": clean["efficiency"],
        "efficiency_webhooks_dropped_30pct": dropped["efficiency"],
        "target": TARGET,
        "targets_met": completed and all(e is not None and e >= TARGET for e in efficiencies),
        "fault_free": clean,
        "webhooks_dropped_30pct": dropped,
    }


def _scenario(contacts: int, p_drop_webhook: float) -> Scenario:
    # The simulator counts calls_per_minute per rate window: its window is a scaled minute.
    return Scenario(
        contacts=contacts,
        speedup=SPEEDUP,
        faults={
            "calls_per_minute": REQUESTS_PER_MINUTE,
            "concurrency": CONCURRENCY,
            "p_drop_webhook": p_drop_webhook,
        },
        retry=retry_once(RETRY_DELAY_SECONDS / SPEEDUP),
        timeout_seconds=120,
    )


async def _run(database_url: str, contacts: int, *, p_drop_webhook: float) -> dict[str, Any]:
    scenario = _scenario(contacts, p_drop_webhook)
    result = await run_scenario(scenario, database_url)
    return {
        "completed": result.completed,
        **bound(result),
        "limits": result.limits(),
        "p_drop_webhook": p_drop_webhook,
        "scaling": settings_note(scenario),
    }


def bound(result: RunResult) -> dict[str, Any]:
    """The lower bound of the makespan (real seconds) and the engine's efficiency."""
    scenario, config = result.scenario, result.config
    calls = result.ledger.calls
    ended = [c for c in calls if c.ended_at is not None]
    lifetimes = {
        c.call_id: (c.ended_at - c.created_at).total_seconds()
        for c in ended
        if c.ended_at is not None
    }
    allowed_per_s = config.calls_per_minute / config.rate_window_seconds
    by_rate = len(calls) / allowed_per_s
    by_slots = sum(lifetimes.values()) / config.concurrency
    chains: dict[str, list[float]] = defaultdict(list)
    for call in calls:
        chains[call.to_number].append(lifetimes.get(call.call_id, 0.0))
    delay = RETRY_DELAY_SECONDS / scenario.speedup
    by_chain = max(
        (sum(times) + delay * (len(times) - 1) for times in chains.values()), default=0.0
    )
    lower = max(by_rate, by_slots, by_chain)
    span = result.makespan_seconds
    last_end = max((c.ended_at for c in ended if c.ended_at is not None), default=None)
    tail = (
        (result.finished_at - last_end).total_seconds()
        if result.finished_at is not None and last_end is not None
        else None
    )
    speedup = scenario.speedup

    def unscaled(seconds: float | None) -> float | None:
        return None if seconds is None else round(seconds * speedup, 1)

    first = min((c.created_at for c in calls), default=None)
    ramp = (
        (first - result.started_at).total_seconds()
        if first is not None and result.started_at is not None
        else None
    )
    return {
        "efficiency": round(lower / span, 4) if span else None,
        "calls_placed": len(calls),
        "calls_not_ended": len(calls) - len(ended),
        "attempts": len(result.attempts),
        "makespan_unscaled_s": unscaled(span),
        "bound_unscaled_s": unscaled(lower),
        "bound_by_rate_unscaled_s": unscaled(by_rate),
        "bound_by_concurrency_unscaled_s": unscaled(by_slots),
        "bound_by_chain_unscaled_s": unscaled(by_chain),
        "first_call_after_start_unscaled_s": unscaled(ramp),
        "tail_unscaled_s": unscaled(tail),
        "wall_seconds": round(result.wall_seconds, 2),
        "times_in": "unscaled seconds (measured x speedup)",
    }
