"""Fault tests with real worker *processes*: several at once, one killed mid-request, Redis
losing everything mid-campaign, and Vocobase answering 5xx, 429 and too slowly; and two
scheduler processes, the leading one killed.

They run on PostgreSQL, the production database. Every test judges the engine by the
simulator's ledger, which is independent of the engine:
no contact dialed more often than its outcomes justify, every contact final, and no limit
exceeded at any moment (peak concurrency, requests per window).
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from campaign_engine.campaigns.outcome_classes import classify
from campaign_engine.campaigns.retry_policy import RetryPolicy, policy_explains
from campaign_engine.db.models import CallAttempt, Contact, SchedulerLeader, utcnow
from campaign_engine.spawn import engine_processes, worker_processes
from campaign_engine.states import CONTACT_FINAL, AttemptState
from tests.harness import Harness, quick_policy, running_engine, sim_config, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CONCURRENCY = 3
PER_WINDOW = 40
WINDOW_SECONDS = 2.0
ENGINE_LIMITS = {
    # The simulator's 40 requests per 2 s window, as a per-minute rate.
    "vocobase": {"calls_per_minute": int(PER_WINDOW * 60 / WINDOW_SECONDS), "concurrency": "auto"},
    "cooldown_seconds": 0.5,
}
QUICK_RECOVERY = {
    "tick_seconds": 0.1,
    "reconcile_after_seconds": 0.5,
    "unknown_grace_seconds": 4.0,
    "requeue_after_seconds": 3.0,
}


async def wait_for_final(engine: Harness, campaign_id: str, count: int) -> None:
    """Until at least ``count`` contacts of the campaign are final (the fault comes after)."""

    async def enough() -> bool:
        return (await engine.status(campaign_id))["contacts"]["final"] >= count

    await wait_until(enough, 60, f"{count} contacts to finish")


def numbers(count: int, base: int = 0) -> list[str]:
    return [f"+9197{base + index:08d}" for index in range(count)]


async def assert_ledger_agrees(
    engine: Harness, policy: RetryPolicy, *, per_window: int | None = None
) -> None:
    """Every contact final, dialed exactly as its outcomes justify; limits never exceeded.

    (The simulator enforces its limits itself, so the peaks below hold by construction; the
    evidence that the engine respected them is the absence of 429s where a test asserts it.)
    """
    async with engine.runtime.sessions() as session:
        contacts = (await session.scalars(select(Contact))).all()
        open_attempts = await session.scalar(
            select(func.count())
            .select_from(CallAttempt)
            .where(CallAttempt.state.in_(["dialing", "started", "unknown"]))
        )
    ledger = engine.simulator.ledger
    assert open_attempts == 0
    for contact in contacts:
        assert contact.state in CONTACT_FINAL, (contact.phone_e164, contact.state)
        dialed = [classify(c.status, c.disposition) for c in ledger.calls_to(contact.phone_e164)]
        assert dialed, f"{contact.phone_e164} never dialed"
        assert policy_explains(policy, dialed), (contact.phone_e164, dialed)
    assert ledger.peak_concurrency <= CONCURRENCY
    if per_window is not None:
        assert ledger.max_calls_requests_in_window <= per_window


async def test_several_worker_processes_share_every_limit_and_dial_each_contact_once_per_attempt(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    policy = quick_policy()
    simulator = sim_config(
        concurrency=CONCURRENCY,
        calls_per_minute=PER_WINDOW,
        rate_window_seconds=WINDOW_SECONDS,
        p_duplicate_webhook=0.2,
    )
    async with running_engine(
        postgres_url,
        redis_prefix,
        simulator=simulator,
        with_worker=False,
        limits=ENGINE_LIMITS,
        scheduler=QUICK_RECOVERY,
    ) as engine:
        async with worker_processes(engine.runtime.settings, 3, tmp_path):
            campaign_id = await engine.add_campaign(numbers(40), policy=policy)
            await engine.run_to_completion(campaign_id, limit_seconds=120)
        await assert_ledger_agrees(engine, policy, per_window=PER_WINDOW)
        assert sum(engine.simulator.ledger.responses_429.values()) == 0


async def test_worker_killed_during_start_requests_never_causes_a_blind_redial(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    policy = quick_policy()
    # Every start is answered slowly (the call is placed at once): workers are mid-request.
    simulator = sim_config(concurrency=CONCURRENCY, p_slow=1.0, slow_seconds=1.5)
    async with running_engine(
        postgres_url,
        redis_prefix,
        simulator=simulator,
        with_worker=False,
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": "auto"}},
        scheduler=QUICK_RECOVERY,
    ) as engine:
        async with worker_processes(engine.runtime.settings, 2, tmp_path) as workers:
            campaign_id = await engine.add_campaign(numbers(12, base=100), policy=policy)

            async def requests_in_flight() -> bool:
                async with engine.runtime.sessions() as session:
                    dialing = await session.scalar(
                        select(func.count())
                        .select_from(CallAttempt)
                        .where(CallAttempt.state == AttemptState.DIALING.value)
                    )
                return bool(dialing)

            await wait_until(requests_in_flight, 30, "a start request in flight")
            workers[0].send_signal(signal.SIGKILL)
            await asyncio.to_thread(workers[0].wait)
            engine.simulator.config.p_slow = 0.0
            await engine.run_to_completion(campaign_id, limit_seconds=120)
        await assert_ledger_agrees(engine, policy)
        # The dead worker's calls kept their slots until settled: never over the limit.
        assert sum(engine.simulator.ledger.responses_429.values()) == 0


async def test_redis_losing_everything_mid_campaign_loses_nobody_and_dials_nobody_twice(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    policy = quick_policy()
    simulator = sim_config(
        concurrency=CONCURRENCY,
        time_scale=0.03,
    )
    async with running_engine(
        postgres_url,
        redis_prefix,
        simulator=simulator,
        with_worker=False,
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": "auto"}},
        scheduler=QUICK_RECOVERY,
    ) as engine:
        async with worker_processes(engine.runtime.settings, 2, tmp_path):
            campaign_id = await engine.add_campaign(numbers(30, base=200), policy=policy)

            await wait_for_final(engine, campaign_id, 5)
            redis = engine.runtime.redis
            for pattern in (f"{redis_prefix}:*", f"arq:*{redis_prefix}*"):
                keys = [key async for key in redis.scan_iter(match=pattern, count=1000)]
                if keys:
                    await redis.delete(*keys)
            await engine.run_to_completion(campaign_id, limit_seconds=120)
        await assert_ledger_agrees(engine, policy)


async def test_vocobase_answering_5xx_429_and_too_slowly_still_ends_every_contact_correctly(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    policy = quick_policy()
    simulator = sim_config(
        concurrency=CONCURRENCY,
        p_5xx=0.15,
        p_5xx_places_call=0.5,
        p_slow=0.1,
        slow_seconds=2.5,  # longer than the engine's 2 s read timeout: the call is placed anyway
        p_drop_webhook=0.1,
    )
    limits = {"vocobase": {"calls_per_minute": 6000, "concurrency": 6}, "cooldown_seconds": 0.2}
    async with running_engine(
        postgres_url,
        redis_prefix,
        simulator=simulator,
        with_worker=False,
        limits=limits,
        scheduler=QUICK_RECOVERY,
    ) as engine:
        async with worker_processes(engine.runtime.settings, 2, tmp_path):
            campaign_id = await engine.add_campaign(numbers(25, base=300), policy=policy)

            await wait_for_final(engine, campaign_id, 3)
            # Vocobase lowers the partner's concurrency under the engine's feet: 429s come.
            engine.simulator.config.concurrency = 1
            await engine.run_to_completion(campaign_id, limit_seconds=150)
        ledger = engine.simulator.ledger
        assert ledger.responses_5xx > 0 and ledger.responses_429["concurrency"] > 0
        async with engine.runtime.sessions() as session:
            states = dict(
                (
                    await session.execute(
                        select(CallAttempt.state, func.count()).group_by(CallAttempt.state)
                    )
                ).all()
            )
        assert states.get("not_sent", 0) > 0  # the 429s: given back, never counted
        await assert_ledger_agrees(engine, policy)


async def test_sigterm_lets_start_requests_in_flight_finish_and_hands_waiting_contacts_back(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    # Slow answers keep requests in flight; one slot keeps most contacts waiting for it.
    simulator = sim_config(concurrency=1, p_slow=1.0, slow_seconds=1.5, time_scale=1.0)
    async with running_engine(
        postgres_url,
        redis_prefix,
        simulator=simulator,
        with_worker=False,
        with_scheduler=True,
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": "auto"}},
        scheduler=QUICK_RECOVERY,
    ) as engine:
        async with worker_processes(engine.runtime.settings, 1, tmp_path) as (worker,):
            campaign_id = await engine.add_campaign(numbers(6, base=400))

            async def in_flight() -> bool:
                async with engine.runtime.sessions() as session:
                    return bool(
                        await session.scalar(
                            select(func.count())
                            .select_from(CallAttempt)
                            .where(CallAttempt.state == AttemptState.DIALING.value)
                        )
                    )

            await wait_until(in_flight, 30, "a start request in flight")
            engine.services.scheduler.stop()  # nothing new is queued while we look
            worker.send_signal(signal.SIGTERM)
            # Wait in a thread: the simulator answering the worker runs on this event loop.
            assert await asyncio.to_thread(worker.wait, 30) == 0
        async with engine.runtime.sessions() as session:
            attempts = (await session.scalars(select(CallAttempt))).all()
            contacts = (
                await session.scalars(select(Contact).where(Contact.campaign_id == campaign_id))
            ).all()
    # The request in flight finished and was recorded: none left dialing or unknown.
    assert attempts and all(a.state in ("started", "ended") for a in attempts)
    # Contacts whose job was still waiting for the slot were handed back, not left queued.
    assert all(c.state != "queued" for c in contacts)
    assert any(c.state == "pending" for c in contacts)


async def leader_row(engine: Harness) -> SchedulerLeader | None:
    async with engine.runtime.sessions() as session:
        return await session.get(SchedulerLeader, "scheduler")


async def test_killing_the_leading_scheduler_lets_a_standby_finish_and_nobody_is_dialed_twice(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    policy = quick_policy()
    simulator = sim_config(concurrency=CONCURRENCY, time_scale=0.03)
    async with running_engine(
        postgres_url,
        redis_prefix,
        simulator=simulator,
        with_scheduler=False,
        limits={"vocobase": {"calls_per_minute": 6000, "concurrency": "auto"}},
        scheduler={**QUICK_RECOVERY, "leader_lease_seconds": 2.0},
    ) as engine:
        settings = engine.runtime.settings
        async with engine_processes(settings, ["scheduler"], 2, tmp_path) as schedulers:
            campaign_id = await engine.add_campaign(numbers(20, base=500), policy=policy)
            await wait_for_final(engine, campaign_id, 4)
            first = await leader_row(engine)
            assert first is not None
            pid = int(first.holder.rsplit(":", 1)[1])
            [leader] = [proc for proc in schedulers if proc.pid == pid]
            leader.send_signal(signal.SIGKILL)
            await asyncio.to_thread(leader.wait)
            killed_at = utcnow()

            async def standby_leads() -> bool:
                row = await leader_row(engine)
                return row is not None and row.token > first.token

            await wait_until(standby_leads, 30, "the standby to lead")
            second = await leader_row(engine)
            assert second is not None and second.holder != first.holder
            print(f"takeover {(second.since - killed_at).total_seconds():.2f} s after SIGKILL")
            await engine.run_to_completion(campaign_id, limit_seconds=120)
        await assert_ledger_agrees(engine, policy)
