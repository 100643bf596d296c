"""One scheduler leads, whatever number run: the lease is taken by one, renewed while it
leads, given back on a stop, and lost at once when it cannot be renewed."""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis

from campaign_engine.control.campaign_moves import complete_finished
from campaign_engine.control.fencing import NotLeader
from campaign_engine.control.leadership import read_leader
from campaign_engine.runtime import Runtime
from tests.control.support import candidate, finished_campaign
from tests.dialer.support import campaign_of
from tests.harness import wait_until


async def test_of_two_schedulers_one_leads_and_the_other_takes_over_with_a_greater_token(
    runtime: Runtime,
) -> None:
    first, second = candidate(runtime, "a:1"), candidate(runtime, "b:2")

    assert await first.acquire()
    assert not await second.acquire()
    assert (first.is_leader, second.is_leader) == (True, False)
    assert await first.acquire()  # the leader asking again keeps leading, same token
    assert first.token == 1

    await first.release()
    assert not first.is_leader
    assert await second.acquire()
    assert second.token == 2
    assert not await first.acquire()


async def test_a_lease_that_runs_out_passes_to_a_standby(runtime: Runtime) -> None:
    first, second = candidate(runtime, "a:1", lease=0.3), candidate(runtime, "b:2")
    assert await first.acquire()

    async def expired() -> bool:
        return not await runtime.redis.exists(runtime.keys.scheduler_lease)

    await wait_until(expired, 5, "the lease to run out")
    assert await second.acquire()
    assert second.token == 2


async def test_a_leader_that_cannot_renew_stops_leading_at_once_and_commits_nothing(
    runtime: Runtime,
) -> None:
    campaign_id = await finished_campaign(runtime)
    leader = candidate(runtime, "a:1")
    assert await leader.acquire()
    await runtime.redis.set(runtime.keys.scheduler_lease, "someone-else")

    assert not await leader.renew()

    assert not leader.is_leader and leader.token is None
    with pytest.raises(NotLeader):
        async with leader.fenced(runtime.sessions)() as session, session.begin():
            await complete_finished(session)
    assert (await campaign_of(runtime, campaign_id)).state == "running"


async def test_holding_leads_while_the_lease_is_renewed_and_stops_when_it_is_lost(
    runtime: Runtime,
) -> None:
    leader = candidate(runtime, "a:1", lease=0.6)
    stopping, leading, lost_seen = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def lead(lost: asyncio.Event) -> None:
        leading.set()
        await lost.wait()
        lost_seen.set()

    holding = asyncio.create_task(leader.hold(lead, stopping))
    await asyncio.wait_for(leading.wait(), 10)
    await runtime.redis.set(runtime.keys.scheduler_lease, "someone-else")
    await asyncio.wait_for(lost_seen.wait(), 10)
    assert not leader.is_leader
    stopping.set()
    await holding
    assert await runtime.redis.get(runtime.keys.scheduler_lease) == b"someone-else"


async def test_stopping_gives_the_lease_back_so_a_standby_leads_at_once(
    runtime: Runtime,
) -> None:
    leader, standby = candidate(runtime, "a:1"), candidate(runtime, "b:2")
    stopping, leading = asyncio.Event(), asyncio.Event()

    async def lead(lost: asyncio.Event) -> None:
        leading.set()
        await lost.wait()

    holding = asyncio.create_task(leader.hold(lead, stopping))
    await asyncio.wait_for(leading.wait(), 10)
    assert not await standby.acquire()
    stopping.set()
    await holding

    assert not leader.is_leader
    assert await standby.acquire()


async def test_the_leader_is_shown_with_its_token_and_since_when(runtime: Runtime) -> None:
    async with runtime.sessions() as session:
        nobody = await read_leader(session, runtime.redis, runtime.keys)
    assert (nobody.holder, nobody.leading) == (None, False)
    leader = candidate(runtime, "host-a:42")
    assert await leader.acquire()

    async with runtime.sessions() as session:
        shown = await read_leader(session, runtime.redis, runtime.keys)

    assert (shown.holder, shown.token, shown.leading) == ("host-a:42", 1, True)
    assert shown.since is not None and shown.renewed_at is not None


async def test_a_leader_that_cannot_reach_redis_stops_leading_at_once(runtime: Runtime) -> None:
    leader = candidate(runtime, "a:1")
    assert await leader.acquire()
    unreachable = Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    leader.redis = unreachable
    try:
        assert not await leader.renew()
    finally:
        await unreachable.aclose()
    assert leader.token is None
