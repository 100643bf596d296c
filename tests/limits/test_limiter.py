"""The shared limiter on the real Redis: rates, concurrency leases and the cooldown."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from campaign_engine.keys import RedisKeys
from campaign_engine.limits.limiter import Limiter
from campaign_engine.limits.plan import LimitPlan, RateLimit, SlotLimit
from tests.harness import wait_until

LONG_TTL = 600_000


@pytest.fixture
def limiter(redis: Redis, keys: RedisKeys) -> Limiter:
    return Limiter(redis, keys)


def rates(*limits: RateLimit) -> LimitPlan:
    return LimitPlan(limits, ())


def slots(*limits: SlotLimit) -> LimitPlan:
    return LimitPlan((), limits)


async def test_a_rate_of_n_per_minute_grants_one_then_denies_for_about_one_interval(
    limiter: Limiter, keys: RedisKeys
) -> None:
    interval = 10_100  # 6 per minute, widened by 1%
    plan = rates(RateLimit("calls", interval))
    assert (await limiter.acquire(plan)).granted
    denied = await limiter.acquire(plan)
    assert not denied.granted
    assert denied.blocked_by == keys.rate("calls")
    assert interval // 2 < denied.wait_ms <= interval


async def test_a_rate_grants_again_once_its_interval_has_passed(limiter: Limiter) -> None:
    plan = rates(RateLimit("fast", 51))
    assert (await limiter.acquire(plan)).granted

    async def granted() -> bool:
        return (await limiter.acquire(plan)).granted

    await wait_until(granted, 5, "the next token")


async def test_a_burst_lets_that_many_through_back_to_back(limiter: Limiter) -> None:
    plan = rates(RateLimit("bursty", 10_000, burst=3))
    results = [(await limiter.acquire(plan)).granted for _ in range(4)]
    assert results == [True, True, True, False]


async def test_the_strictest_rate_decides_the_wait(limiter: Limiter, keys: RedisKeys) -> None:
    plan = rates(RateLimit("loose", 1_000), RateLimit("strict", 20_000))
    assert (await limiter.acquire(plan)).granted
    denied = await limiter.acquire(plan)
    assert denied.blocked_by == keys.rate("strict")
    assert denied.wait_ms > 1_000


async def test_a_full_slot_set_denies_and_a_release_frees_the_slot(
    limiter: Limiter, keys: RedisKeys
) -> None:
    plan = slots(SlotLimit("active", 2))
    assert (await limiter.acquire(plan, "a", LONG_TTL)).granted
    assert (await limiter.acquire(plan, "b", LONG_TTL)).granted
    denied = await limiter.acquire(plan, "c", LONG_TTL)
    assert not denied.granted
    assert denied.blocked_by == keys.slots("active")
    assert denied.wait_ms == 100  # the slot poll interval: a slot frees when a call ends
    assert await limiter.in_use("active") == 2

    await limiter.release(("active",), "a")
    assert await limiter.in_use("active") == 1
    assert (await limiter.acquire(plan, "c", LONG_TTL)).granted
    assert await limiter.in_use("active") == 2


async def test_releasing_many_leases_frees_each_from_all_its_slots_and_nothing_else(
    limiter: Limiter,
) -> None:
    both = slots(SlotLimit("provider", 10), SlotLimit("campaign", 10))
    for lease in ("a", "b", "c"):
        assert (await limiter.acquire(both, lease, LONG_TTL)).granted
    assert (await limiter.acquire(slots(SlotLimit("other", 10)), "d", LONG_TTL)).granted

    await limiter.release_many([(("provider", "campaign"), "a"), (("provider", "campaign"), "b")])
    await limiter.release_many([])

    assert (await limiter.in_use("provider"), await limiter.in_use("campaign")) == (1, 1)
    assert await limiter.in_use("other") == 1


async def test_a_release_wakes_one_wait_for_freed_slots_however_many_leases_went(
    limiter: Limiter,
) -> None:
    plan = slots(SlotLimit("active", 5))
    for lease in ("a", "b", "c"):
        assert (await limiter.acquire(plan, lease, LONG_TTL)).granted
    assert not await limiter.wait_freed(0.01)  # nothing released yet

    await limiter.release(("active",), "a")
    await limiter.release_many([(("active",), "b"), (("active",), "c")])

    assert await limiter.wait_freed(0.01)
    assert not await limiter.wait_freed(0.01)  # one wake-up for every release so far


async def test_a_wait_for_freed_slots_returns_when_another_client_releases(
    limiter: Limiter,
) -> None:
    assert (await limiter.acquire(slots(SlotLimit("active", 1)), "a", LONG_TTL)).granted
    waiting = asyncio.create_task(limiter.wait_freed(5.0))
    await asyncio.sleep(0.05)
    assert not waiting.done()

    await limiter.release(("active",), "a")

    assert await asyncio.wait_for(waiting, 5.0)


async def test_a_second_job_for_the_same_attempt_is_told_the_lease_is_held_and_takes_nothing(
    limiter: Limiter,
) -> None:
    plan = slots(SlotLimit("active", 2))
    assert (await limiter.acquire(plan, "contact-7:1", LONG_TTL)).granted
    duplicate = await limiter.acquire(plan, "contact-7:1", LONG_TTL)
    # Releasing on its behalf would free the live call's slot: it must not own the lease.
    assert not duplicate.granted and duplicate.held_elsewhere
    assert await limiter.in_use("active") == 1
    assert (await limiter.acquire(plan, "contact-8:1", LONG_TTL)).granted


async def test_extend_keeps_a_short_lease_for_the_whole_call(limiter: Limiter) -> None:
    plan = slots(SlotLimit("active", 1))
    assert (await limiter.acquire(plan, "calling", 200)).granted
    await limiter.extend(("active",), "calling", LONG_TTL)
    await asyncio.sleep(0.3)  # past the first TTL; only the extension keeps it
    assert await limiter.in_use("active") == 1
    assert not (await limiter.acquire(plan, "next", LONG_TTL)).granted


async def test_extend_never_brings_back_a_lease_released_meanwhile(limiter: Limiter) -> None:
    # The webhook of a call that failed in milliseconds released its slot before the start
    # response was recorded: the slot stays free.
    plan = slots(SlotLimit("active", 1))
    assert (await limiter.acquire(plan, "over-already", 200)).granted
    await limiter.release(("active",), "over-already")
    await limiter.extend(("active",), "over-already", LONG_TTL)
    assert await limiter.in_use("active") == 0


async def test_hold_takes_back_an_expired_lease_of_a_call_that_exists_even_over_the_limit(
    limiter: Limiter,
) -> None:
    plan = slots(SlotLimit("active", 1))
    assert (await limiter.acquire(plan, "killed-worker", 100)).granted

    async def expired() -> bool:
        return await limiter.in_use("active") == 0

    await wait_until(expired, 5, "the short start lease to expire")
    assert (await limiter.acquire(plan, "newcomer", LONG_TTL)).granted
    await limiter.hold(("active",), "killed-worker", LONG_TTL)  # the reconciler found it
    assert await limiter.in_use("active") == 2
    assert not (await limiter.acquire(plan, "next", LONG_TTL)).granted


async def test_a_lease_expires_by_itself_after_its_ttl(limiter: Limiter) -> None:
    plan = slots(SlotLimit("active", 1))
    assert (await limiter.acquire(plan, "lost-webhook", 200)).granted
    assert not (await limiter.acquire(plan, "next", LONG_TTL)).granted

    async def expired() -> bool:
        return await limiter.in_use("active") == 0

    await wait_until(expired, 5, "the lease to expire")
    assert (await limiter.acquire(plan, "next", LONG_TTL)).granted


async def test_a_short_lease_never_cuts_the_life_of_a_longer_one_in_the_same_set(
    limiter: Limiter, redis: Redis, keys: RedisKeys
) -> None:
    # Campaigns with different agents share the partner's slot set: a call of a short
    # agent taken after one of a long agent must not make Redis drop the whole set early.
    plan = slots(SlotLimit("active", 5))
    assert (await limiter.acquire(plan, "long-call", LONG_TTL)).granted
    assert (await limiter.acquire(plan, "short-call", 1_000)).granted
    assert await redis.pttl(keys.slots("active")) > LONG_TTL - 10_000


async def test_a_denied_request_takes_nothing_from_any_key(
    limiter: Limiter, redis: Redis, keys: RedisKeys
) -> None:
    full = slots(SlotLimit("s2", 1))
    assert (await limiter.acquire(full, "holder", LONG_TTL)).granted
    plan = LimitPlan(
        (RateLimit("r1", 10_000), RateLimit("r2", 10_000)),
        (SlotLimit("s1", 5), SlotLimit("s2", 1)),
    )

    denied = await limiter.acquire(plan, "mine", LONG_TTL)

    assert not denied.granted
    assert denied.blocked_by == keys.slots("s2")
    assert await redis.get(keys.rate("r1")) is None
    assert await redis.get(keys.rate("r2")) is None
    assert await redis.zscore(keys.slots("s1"), "mine") is None
    assert await redis.zrange(keys.slots("s2"), 0, -1) == [b"holder"]

    await limiter.release(("s2",), "holder")
    assert (await limiter.acquire(plan, "mine", LONG_TTL)).granted
    assert await redis.zscore(keys.slots("s1"), "mine") is not None
    assert await redis.get(keys.rate("r1")) is not None


async def test_a_request_denied_by_a_rate_takes_no_slot(
    limiter: Limiter, redis: Redis, keys: RedisKeys
) -> None:
    assert (await limiter.acquire(rates(RateLimit("r", 10_000)))).granted
    tat_before = await redis.get(keys.rate("r"))
    plan = LimitPlan((RateLimit("r", 10_000),), (SlotLimit("s", 5),))

    denied = await limiter.acquire(plan, "mine", LONG_TTL)

    assert not denied.granted
    assert denied.blocked_by == keys.rate("r")
    assert await limiter.in_use("s") == 0
    assert await redis.get(keys.rate("r")) == tat_before


async def test_a_cooldown_blocks_every_plan(limiter: Limiter) -> None:
    await limiter.cool_down(30)
    plans = [
        LimitPlan((), ()),
        rates(RateLimit("calls", 10)),
        slots(SlotLimit("active", 100)),
    ]
    for plan in plans:
        grant = await limiter.acquire(plan, "lease", LONG_TTL)
        assert not grant.granted
        assert grant.blocked_by == "cooldown"
        assert 25_000 < grant.wait_ms <= 30_000
    assert await limiter.in_use("active") == 0


async def test_a_cooldown_is_never_shortened_only_lengthened(
    limiter: Limiter, redis: Redis, keys: RedisKeys
) -> None:
    await limiter.cool_down(30)
    await limiter.cool_down(1)
    assert await redis.pttl(keys.cooldown) > 25_000
    await limiter.cool_down(60)
    assert await redis.pttl(keys.cooldown) > 55_000


async def test_cooldowns_set_at_the_same_moment_leave_the_longest(
    limiter: Limiter, redis: Redis, keys: RedisKeys
) -> None:
    for _ in range(20):
        await redis.delete(keys.cooldown)
        await asyncio.gather(limiter.cool_down(30), *(limiter.cool_down(1) for _ in range(5)))
        assert await redis.pttl(keys.cooldown) > 25_000


async def test_a_cooldown_ends_by_itself(limiter: Limiter) -> None:
    await limiter.cool_down(0.2)
    plan = rates(RateLimit("calls", 10))

    async def granted() -> bool:
        return (await limiter.acquire(plan)).granted

    await wait_until(granted, 5, "the cooldown to end")


async def test_acquiring_many_grants_the_first_leases_the_slots_have_room_for(
    limiter: Limiter,
) -> None:
    plan = slots(SlotLimit("active", 3), SlotLimit("campaign", 5))
    grants = await limiter.acquire_many(plan, ["a", "b", "c", "d", "e"], LONG_TTL)
    assert (grants.granted, grants.held) == (["a", "b", "c"], [])
    assert await limiter.in_use("active") == 3
    assert await limiter.in_use("campaign") == 3
    rest = await limiter.acquire_many(plan, ["d", "e"], LONG_TTL)
    assert rest.granted == []
    assert rest.wait_ms > 0


async def test_acquiring_many_reports_leases_held_elsewhere_and_takes_the_others(
    limiter: Limiter,
) -> None:
    plan = slots(SlotLimit("active", 5))
    assert (await limiter.acquire(plan, "7:1", LONG_TTL)).granted
    grants = await limiter.acquire_many(plan, ["6:1", "7:1", "8:1"], LONG_TTL)
    assert (grants.granted, grants.held) == (["6:1", "8:1"], ["7:1"])
    assert await limiter.in_use("active") == 3


async def test_a_rate_with_a_burst_grants_that_many_at_once_then_one_per_interval(
    limiter: Limiter, keys: RedisKeys
) -> None:
    plan = rates(RateLimit("wide", 10_000, burst=4))
    leases = [f"{n}:1" for n in range(6)]
    assert (await limiter.acquire_many(plan, leases, LONG_TTL)).granted == leases[:4]
    denied = await limiter.acquire_many(plan, leases[4:], LONG_TTL)
    assert (denied.granted, denied.blocked_by) == ([], keys.rate("wide"))
    assert 9_000 < denied.wait_ms <= 10_000


async def test_extending_and_releasing_many_leases_moves_only_those(limiter: Limiter) -> None:
    plan = slots(SlotLimit("active", 5))
    assert len((await limiter.acquire_many(plan, ["a", "b", "c"], 200)).granted) == 3
    await limiter.extend_many(("active",), ["a", "b"], LONG_TTL)
    await limiter.release_many([(("active",), "b")])

    async def only_a_is_left() -> bool:
        return await limiter.in_use("active") == 1

    await wait_until(only_a_is_left, 5, "the short lease to expire")
    assert (await limiter.acquire(plan, "a", LONG_TTL)).held_elsewhere
