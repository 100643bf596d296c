"""The long-running commands as real processes: any number of `serve` share the webhook
inbox (every event applied once, whichever stored it, even from a server killed mid-batch),
and `serve --workers N` runs N servers on one port."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from campaign_engine.config import Settings
from campaign_engine.db.models import CallAttempt, Notification, WebhookEvent
from campaign_engine.runtime import Runtime
from campaign_engine.spawn import CLI, engine_processes, settings_env
from tests.conftest import engine_settings
from tests.harness import free_port, wait_until
from tests.webhooks.conftest import event_body, make_attempt, signed

pytestmark = pytest.mark.slow

EVENTS = 20


def children_of(pid: int) -> set[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as listing:
        return {int(child) for child in listing.read().split()}


async def healthy(port: int) -> bool:
    try:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
        return response.status_code == 200
    except httpx.HTTPError:
        return False


@asynccontextmanager
async def server(settings: Settings, port: int, log_dir: Path) -> AsyncIterator[Any]:
    await asyncio.to_thread(log_dir.mkdir)
    served = settings.model_copy(
        update={"server": settings.server.model_copy(update={"port": port})}
    )
    async with engine_processes(served, ["serve"], 1, log_dir) as (proc,):
        await wait_until(lambda: healthy(port), 30, f"the server on port {port}")
        yield proc


async def deliver(port: int, body: bytes) -> bool:
    """One delivery, as Vocobase makes it; whether it was accepted (200)."""
    try:
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://127.0.0.1:{port}/webhooks/vocobase",
                content=body,
                headers=signed(body),
                timeout=5,
            )
        return response.status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.postgres
async def test_two_servers_given_the_same_events_apply_each_once_and_one_killed_loses_nothing(
    postgres_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    settings = engine_settings(
        postgres_url,
        redis_prefix,
        notifications={"url": "http://127.0.0.1:9/results", "secret": "notify-secret"},
    )
    runtime = await Runtime.open(settings)
    try:
        bodies = []
        for index in range(EVENTS):
            phone = f"+91987650{index:04d}"
            await make_attempt(
                runtime, call_id=f"call-{index}", session_id=f"sess-{index}", phone=phone
            )
            bodies.append(
                event_body(session_id=f"sess-{index}", call_id=f"call-{index}", to_number=phone)
            )
        first_port, second_port = free_port(), free_port()
        async with (
            server(settings, first_port, tmp_path / "first") as first,
            server(settings, second_port, tmp_path / "second"),
        ):
            half = EVENTS // 2
            # Vocobase delivering each event twice, to two servers behind one address.
            for body in bodies[:half]:
                accepted = await asyncio.gather(
                    deliver(first_port, body), deliver(second_port, body)
                )
                assert all(accepted)
            # The rest reach the first server only, killed while it applies them; what it
            # did not answer, Vocobase delivers again (to the server still up).
            sent = [asyncio.create_task(deliver(first_port, body)) for body in bodies[half:]]
            await asyncio.sleep(0.05)
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait)
            for body, task in zip(bodies[half:], sent, strict=True):
                if not await task:
                    assert await deliver(second_port, body)

            async def all_applied() -> bool:
                async with runtime.sessions() as session:
                    applied = await session.scalar(
                        select(func.count())
                        .select_from(WebhookEvent)
                        .where(WebhookEvent.status == "applied")
                    )
                return applied == EVENTS

            await wait_until(all_applied, 60, "every event to be applied")
        async with runtime.sessions() as session:
            events = (await session.scalars(select(WebhookEvent))).all()
            ended = await session.scalar(
                select(func.count()).select_from(CallAttempt).where(CallAttempt.state == "ended")
            )
            notified = (
                await session.execute(
                    select(Notification.attempt_id, func.count())
                    .where(Notification.kind == "attempt")
                    .group_by(Notification.attempt_id)
                )
            ).all()
    finally:
        await runtime.close()
    assert len(events) == EVENTS and {event.status for event in events} == {"applied"}
    twice = {f"sess-{index}" for index in range(half)}
    assert {event.duplicates for event in events if event.session_id in twice} == {1}
    assert ended == EVENTS
    # Each outcome was recorded once: one notification per attempt.
    assert len(notified) == EVENTS and {count for _, count in notified} == {1}


async def test_serve_with_two_workers_shares_one_port_replaces_a_dead_one_and_stops_on_sigterm(
    sqlite_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    port = free_port()
    settings = engine_settings(sqlite_url, redis_prefix, server={"port": port})
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        parent = subprocess.Popen(  # noqa: ASYNC220 (started once, not waited on here)
            [*CLI, "serve", "--workers", "2"], env=settings_env(settings), stdout=out, stderr=out
        )
    try:

        async def ready(count: int) -> bool:
            return log.read_text().count("campaign-engine ready") >= count

        await wait_until(lambda: ready(2), 30, "two servers")
        assert await healthy(port)
        first = children_of(parent.pid)
        assert len(first) == 2

        victim = min(first)
        os.kill(victim, signal.SIGKILL)
        await wait_until(lambda: ready(3), 30, "a server started in place of the dead one")
        now = children_of(parent.pid)
        assert len(now) == 2 and victim not in now
        assert await healthy(port)

        parent.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(parent.wait, 60) == 0
        assert not any((Path("/proc") / str(pid)).exists() for pid in now)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
