"""A 429 cools the whole fleet down and lowers the limit it hit (real Redis, through a
runtime); polls then take their tokens under the lowered rate."""

from __future__ import annotations

from campaign_engine.limits.adaptive import read_limit_state
from campaign_engine.limits.backpressure import after_refusals, current_poll_plan
from campaign_engine.limits.plan import poll_plan
from campaign_engine.runtime import Runtime
from campaign_engine.vocobase.errors import RateLimited


def refused(kind: str, retry_after: float | None = None) -> RateLimited:
    return RateLimited(
        method="POST",
        path="/calls",
        code="rate_limited",
        message="too many requests",
        retry_after=retry_after,
        kind=kind,  # type: ignore[arg-type]
    )


async def test_the_fleet_cools_down_for_the_longest_retry_after_sent(runtime: Runtime) -> None:
    cooldown = await after_refusals(runtime, [refused("rate", 3.0), refused("rate", 7.0)])

    assert cooldown == 7.0
    left_ms = await runtime.redis.pttl(runtime.keys.cooldown)
    assert 6_000 < left_ms <= 7_000


async def test_without_retry_after_the_fleet_cools_down_for_the_configured_time(
    runtime: Runtime,
) -> None:
    configured = runtime.settings.limits.cooldown_seconds

    assert await after_refusals(runtime, [refused("rate")]) == configured
    left_ms = await runtime.redis.pttl(runtime.keys.cooldown)
    assert configured * 1000 - 1_000 < left_ms <= configured * 1000


async def test_a_rate_429_lowers_the_rate_and_leaves_the_concurrency(runtime: Runtime) -> None:
    await after_refusals(runtime, [refused("rate", 1.0)])

    state = await read_limit_state(runtime.redis, runtime.keys)
    assert state.rate_factor < 1.0
    assert state.lowered_concurrency is None


async def test_a_concurrency_429_lowers_the_concurrency_and_forgets_the_learned_limit(
    runtime: Runtime,
) -> None:
    await runtime.redis.set(runtime.keys.learned_concurrency, 10)

    await after_refusals(runtime, [refused("concurrency", 1.0)])

    state = await read_limit_state(runtime.redis, runtime.keys)
    assert state.lowered_concurrency == 9
    assert state.learned_concurrency is None
    assert state.rate_factor == 1.0


async def test_this_process_sees_the_lowered_limits_at_once_and_polls_under_them(
    runtime: Runtime,
) -> None:
    settings = runtime.settings
    share = settings.scheduler.reconcile_budget_share
    before = await current_poll_plan(runtime)  # also fills this process's cached state
    assert before == poll_plan(settings.limits, share, 1.0)

    await after_refusals(runtime, [refused("rate", 1.0)])

    lowered = (await read_limit_state(runtime.redis, runtime.keys)).rate_factor
    assert lowered < 1.0
    after = await current_poll_plan(runtime)
    assert after == poll_plan(settings.limits, share, lowered)
    assert after != before
