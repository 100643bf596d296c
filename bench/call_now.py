"""Call now: on an engine loaded as in ``fairness`` (a 10,000-contact backlog on Twilio at
1 call/s, and a small Exotel campaign beside it), an operator's retry-now of a contact deep
in the backlog is dialed within 2 s (p99 over 50).

One retry-now every ``GAP_SECONDS`` (each takes one of Twilio's calls a second, which the
backlog wants too), through the same audited action the CLI and the console use; the wait
is from its commit to the simulator's ``created_at`` of that number's call. Real time.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import select

from bench.fairness import CONCURRENCY
from bench.loaded_engine import LoadedEngine, loaded_engine, numbers, percentile
from bench.support import throwaway_postgres
from campaign_engine.db.models import Contact, utcnow
from campaign_engine.ops import actions

TARGET_P99_S = 2.0
GAP_SECONDS = 1.5
GIVE_UP_SECONDS = 30.0


async def run(smoke: bool) -> dict[str, Any]:
    big_count, small_count, samples = (600, 20, 10) if smoke else (10_000, 50, 50)
    async with (
        throwaway_postgres() as database_url,
        loaded_engine(database_url, concurrency=CONCURRENCY) as engine,
    ):
        big = await engine.campaign("twilio", numbers(big_count, 1))
        await engine.campaign("exotel", numbers(small_count, 2))
        await asyncio.sleep(5.0)
        waits = [await _call_now(engine, big) for _ in range(samples)]
        queue = engine.queue
    measured = [w for w in waits if w is not None]
    p99 = percentile(measured, 0.99)
    return {
        "ok": len(measured) == samples,
        "samples": samples,
        "dialed": len(measured),
        "p50_s": percentile(measured, 0.5),
        "p99_s": p99,
        "max_s": round(max(measured), 3) if measured else None,
        "target_p99_s": TARGET_P99_S,
        "queue_max_contacts": queue.max_contacts,
        "queue_bound_contacts": 4 * CONCURRENCY,
        "targets_met": len(measured) == samples and p99 is not None and p99 < TARGET_P99_S,
    }


async def _call_now(engine: LoadedEngine, campaign_id: str) -> float | None:
    """Retry-now the backlog's last pending contact; seconds until its call was placed."""
    runtime = engine.runtime
    async with runtime.sessions() as session, session.begin():
        contact = await session.scalar(
            select(Contact)
            .where(Contact.campaign_id == campaign_id, Contact.state == "pending")
            .order_by(Contact.id.desc())
            .limit(1)
        )
        assert contact is not None, "the backlog ran out"
        number = contact.phone_e164
        await actions.retry_now(session, contact.id, actor="bench")
    asked = utcnow()
    give_up = time.monotonic() + GIVE_UP_SECONDS
    placed = None
    while placed is None and time.monotonic() < give_up:
        placed = engine.first_call(number)
        await asyncio.sleep(0.02)
    await asyncio.sleep(max(0.0, GAP_SECONDS))
    return (placed - asked).total_seconds() if placed is not None else None
