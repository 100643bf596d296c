"""Fairness: a small campaign on an idle provider beside a huge backlog on a slow one.

Two campaigns share one API key (its rate never binds here) and the partner's concurrency
(40): one with 10,000 contacts on Twilio (1 call/s), started first and left to build its
backlog for ``LOAD_SECONDS``; then one with 50 contacts on Exotel (200 calls a minute).
Targets: the small campaign's first start within 2 s of its ``campaign start``; its calls
start at its own limit (Exotel's rate: at least 80% of it from its first start to its
last); the dial queue (contacts queued, sampled every 50 ms over the whole run) always
below 4 x the total concurrency. Real time: the providers' rates are the point.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench.loaded_engine import loaded_engine, numbers
from bench.support import throwaway_postgres, wait_completed
from campaign_engine.config import Settings

CONCURRENCY = 40
FIRST_START_TARGET_S = 2.0
PROGRESS_TARGET = 0.8
QUEUE_FACTOR = 4


async def run(smoke: bool) -> dict[str, Any]:
    big_count, small_count = (600, 20) if smoke else (10_000, 50)
    load_seconds = 5.0 if smoke else 20.0
    async with (
        throwaway_postgres() as database_url,
        loaded_engine(database_url, concurrency=CONCURRENCY) as engine,
    ):
        await engine.campaign("twilio", numbers(big_count, 1))
        await asyncio.sleep(load_seconds)
        small_numbers = numbers(small_count, 2)
        small = await engine.campaign("exotel", small_numbers, start=False)
        started = await engine.start(small)
        completed = await wait_completed(engine.runtime, small, 120.0, poll=0.1)
        firsts = sorted(t for n in small_numbers if (t := engine.first_call(n)) is not None)
        big_numbers = set(numbers(big_count, 1))
        big_starts = sorted(
            call.created_at
            for call in engine.simulator.ledger.calls
            if call.to_number in big_numbers
        )
        queue = engine.queue
    exotel = Settings().limits.providers["exotel"].calls_per_second
    first_start = (firsts[0] - started).total_seconds() if firsts else None
    span = (firsts[-1] - firsts[0]).total_seconds() if len(firsts) > 1 else None
    small_rate = (len(firsts) - 1) / span if span else None
    progress = small_rate / exotel if small_rate is not None else None
    during = [t for t in big_starts if firsts and firsts[0] <= t <= firsts[-1]]
    big_rate = len(during) / span if span else None
    bound = QUEUE_FACTOR * CONCURRENCY
    met = (
        completed
        and first_start is not None
        and first_start < FIRST_START_TARGET_S
        and progress is not None
        and progress >= PROGRESS_TARGET
        and queue.max_contacts < bound
    )
    return {
        "ok": bool(completed and len(firsts) == small_count),
        "big_contacts": big_count,
        "small_contacts": small_count,
        "load_seconds_before_small_start": load_seconds,
        "small_first_start_s": round(first_start, 3) if first_start is not None else None,
        "small_first_start_target_s": FIRST_START_TARGET_S,
        "small_start_rate_per_s": round(small_rate, 3) if small_rate else None,
        "small_own_limit_per_s": round(exotel, 3),
        "small_progress_vs_own_limit": round(progress, 3) if progress else None,
        "progress_target": PROGRESS_TARGET,
        "big_start_rate_meanwhile_per_s": round(big_rate, 3) if big_rate else None,
        "big_calls_started": len(big_starts),
        "queue_max_contacts": queue.max_contacts,
        "queue_max_jobs": queue.max_jobs,
        "queue_bound_contacts": bound,
        "queue_samples": queue.samples,
        "total_concurrency": CONCURRENCY,
        "targets_met": bool(met),
    }
