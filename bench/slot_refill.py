"""Slot refill: at the concurrency limit, how soon after a call ends does the next start come?

A backlog of contacts, Vocobase limits of 600 ``/calls/*`` requests a minute and concurrency
10 (so the slots bind), no retries, 2 worker processes; otherwise the simulator's documented
defaults, with talk times shortened to 5-20 s (they only need to keep the slots full), time
scaled by ``SPEEDUP``. For each call that ended while some contact was still waiting for its
first dial: the time from its end (the simulator's ``ended_at``) to the next start request the
simulator accepted (the next ``created_at`` at or after it).

Three runs: webhooks at once (``processing_seconds=(0, 0)``): target p99 < 2 s; 5-30 s of
post-call processing before the webhook (the simulator's default): p99 < 10 s, since the slot
must be freed from polling, not the webhook; the same with 30% of webhooks lost: p99 < 10 s.
Times are reported in unscaled seconds: measured seconds x ``SPEEDUP``.
"""

from __future__ import annotations

from typing import Any

from bench.contract_run import RunResult, Scenario, run_scenario, settings_note
from bench.support import throwaway_postgres

SPEEDUP = 5.0
REQUESTS_PER_MINUTE = 600
CONCURRENCY = 10
TALK_SECONDS = (5.0, 20.0)
RUNS: dict[str, tuple[dict[str, Any], float]] = {
    "webhooks_at_once": ({"processing_seconds": (0.0, 0.0)}, 2.0),
    "processing_5_30s": ({"processing_seconds": (5.0, 30.0)}, 10.0),
    "webhooks_lost_30pct": ({"processing_seconds": (5.0, 30.0), "p_drop_webhook": 0.3}, 10.0),
}


async def run(smoke: bool) -> dict[str, Any]:
    contacts = 25 if smoke else 100
    results: dict[str, dict[str, Any]] = {}
    async with throwaway_postgres() as database_url:
        for name, (faults, target) in RUNS.items():
            scenario = Scenario(
                contacts=contacts,
                speedup=SPEEDUP,
                faults={
                    "calls_per_minute": REQUESTS_PER_MINUTE,
                    "concurrency": CONCURRENCY,
                    "talk_seconds": TALK_SECONDS,
                    **faults,
                },
                timeout_seconds=120 if smoke else 300,
            )
            result = await run_scenario(scenario, database_url)
            results[name] = {**refill(result), "target_p99_s": target}
    completed = all(r["completed"] for r in results.values())
    met = all(r["p99_s"] is not None and r["p99_s"] < r["target_p99_s"] for r in results.values())
    return {
        "ok": completed,
        "contacts": contacts,
        "times_in": f"unscaled seconds (measured seconds x speedup {SPEEDUP:g})",
        **{f"{name}_p99_s": r["p99_s"] for name, r in results.items()},
        "targets_p99_s": {name: target for name, (_, target) in RUNS.items()},
        "targets_met": completed and met,
        "runs": results,
        "scaling": settings_note(Scenario(contacts=contacts, speedup=SPEEDUP)),
    }


def refill(result: RunResult) -> dict[str, Any]:
    """End-to-next-start gaps of calls that ended while the backlog remained."""
    calls = result.ledger.calls
    starts = sorted(call.created_at for call in calls)
    first_dials: dict[str, Any] = {}
    for call in sorted(calls, key=lambda c: c.created_at):
        first_dials.setdefault(call.to_number, call.created_at)
    undialed = [number for number in result.numbers if number not in first_dials]
    # The backlog lasts until the last contact's first start (for ever if one never was).
    backlog_until = None if undialed else max(first_dials.values(), default=None)
    gaps: list[float] = []
    for call in calls:
        ended = call.ended_at
        if ended is None or (backlog_until is not None and ended >= backlog_until):
            continue
        following = next((start for start in starts if start >= ended), None)
        if following is not None:
            gaps.append((following - ended).total_seconds() * result.scenario.speedup)
    p50, p99 = percentile(gaps, 0.5), percentile(gaps, 0.99)
    return {
        "completed": result.completed,
        "calls_placed": len(calls),
        "contacts_never_dialed": len(undialed),
        "refills_measured": len(gaps),
        "p50_s": None if p50 is None else round(p50, 3),
        "p99_s": None if p99 is None else round(p99, 3),
        "max_s": round(max(gaps), 3) if gaps else None,
        "limits": result.limits(),
        "wall_seconds": round(result.wall_seconds, 2),
    }


def percentile(values: list[float], share: float) -> float | None:
    """The ``share`` quantile (nearest rank) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(share * len(ordered) + 0.5) - 1))
    return ordered[rank]
