"""Work begun under a lease since lost is refused by the fencing token in the database,
never done twice: completion, daily pulls, anything a scheduler commits."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from campaign_engine.campaigns.daily import run_daily_imports
from campaign_engine.control.campaign_moves import complete_finished
from campaign_engine.control.fencing import NotLeader, fence
from campaign_engine.db.models import SchedulerLeader
from campaign_engine.notifications import emit
from campaign_engine.runtime import Runtime
from tests.control.support import candidate, finished_campaign, lose_lease
from tests.control.test_tick import WEDNESDAY, audit_actions, contact_count, crm, with_source
from tests.dialer.support import campaign_of, open_runtime
from tests.harness import wait_until


async def test_completion_begun_under_a_lost_lease_is_refused_and_done_once_by_the_new_leader(
    runtime: Runtime,
) -> None:
    campaign_id = await finished_campaign(runtime)
    old, new = candidate(runtime, "old:1"), candidate(runtime, "new:2")
    assert await old.acquire()
    old_sessions = old.fenced(runtime.sessions)

    with pytest.raises(NotLeader):
        async with old_sessions() as session, session.begin():
            # Begun while leading; the lease is lost (and taken) before it commits.
            await session.get(SchedulerLeader, "scheduler")
            await lose_lease(runtime)
            assert await new.acquire()
            assert await complete_finished(session) == [campaign_id]

    assert (await campaign_of(runtime, campaign_id)).state == "running"
    async with new.fenced(runtime.sessions)() as session, session.begin():
        assert await complete_finished(session) == [campaign_id]
    assert (await campaign_of(runtime, campaign_id)).state == "completed"


async def test_a_daily_pull_under_a_lost_lease_imports_nothing_and_the_new_leader_pulls_once(
    runtime: Runtime, tmp_path: Path
) -> None:
    campaign_id = await with_source(runtime, crm(tmp_path / "crm.db", "+919876543210"))
    old, new = candidate(runtime, "old:1"), candidate(runtime, "new:2")
    assert await old.acquire()
    await lose_lease(runtime)
    assert await new.acquire()

    with pytest.raises(NotLeader):
        await run_daily_imports(old.fenced(runtime.sessions), WEDNESDAY)
    assert await contact_count(runtime, campaign_id) == 1
    assert await audit_actions(runtime, campaign_id) == []

    assert await run_daily_imports(new.fenced(runtime.sessions), WEDNESDAY) == [campaign_id]
    assert await run_daily_imports(new.fenced(runtime.sessions), WEDNESDAY) == []
    assert await contact_count(runtime, campaign_id) == 2
    assert await audit_actions(runtime, campaign_id) == ["daily_import"]


async def test_the_fence_passes_the_leaders_token_only(runtime: Runtime) -> None:
    leader = candidate(runtime, "a:1")
    assert await leader.acquire()
    async with runtime.sessions() as session, session.begin():
        await fence(session, leader.token)
        for stale in (None, 0, 2):
            with pytest.raises(NotLeader):
                await fence(session, stale)


async def test_fenced_sessions_follow_what_is_configured_on_their_factory_later(
    runtime: Runtime,
) -> None:
    fenced = candidate(runtime, "a:1").fenced(runtime.sessions)
    emit.enable(runtime.sessions)  # the runner switches notifications on after building parts

    async with fenced() as session:
        assert emit.is_enabled(session)


@pytest.mark.postgres
async def test_a_takeover_waits_for_a_transaction_that_passed_the_old_leaders_guard(
    postgres_url: str, redis_prefix: str
) -> None:
    """On PostgreSQL the guard's shared row lock orders the two: what the old leader was
    committing lands before the new token, and nothing of it after."""
    async with open_runtime(postgres_url, redis_prefix) as opened:
        old, new = candidate(opened, "old:1", lease=30), candidate(opened, "new:2", lease=30)
        assert await old.acquire()
        async with opened.sessions() as session, session.begin():
            await fence(session, old.token)
            await lose_lease(opened)
            taking = asyncio.create_task(new.acquire())

            async def waiting_for_a_lock() -> bool:
                async with opened.sessions() as watcher:
                    waiting = await watcher.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                        )
                    )
                return bool(waiting)

            await wait_until(waiting_for_a_lock, 10, "the takeover to wait for the guard's lock")
            assert not taking.done()
        assert await taking
        assert new.token == 2
