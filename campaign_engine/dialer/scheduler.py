"""The scheduler: the database decides who is due; Redis only carries the jobs.

It dispatches every ``dispatch_seconds``, every tick, and as soon as the limiter says a slot
was freed (:meth:`Limiter.wait_freed`): the queue holds work that can run, not a copy of the
backlog, so a freed slot is refilled by a round, and the sooner the better. What each
campaign may have queued is what its limits, and the limits it shares (the API key's rate,
the partner's concurrency, its provider's rate and concurrency), can start within
``dispatch_ahead_seconds``, shared out by the campaigns' priorities (:mod:`dispatch`), with
operators' "call now" contacts first; the queue never holds more than ``queue_bound_factor``
x the concurrency in force. The rest stays in the database. Contacts are moved to ``queued``
(committed) before their jobs are enqueued, ``dialer.contacts_per_job`` of one campaign per
arq job, so anything Redis loses is found again: a contact ``queued`` for too long goes back
to waiting and is dispatched again, and when Redis comes back empty the concurrency leases
of calls still open are rebuilt from their attempt rows.

Any number of schedulers may run; one leads (:mod:`~campaign_engine.control.leadership`).
Given a :class:`~campaign_engine.control.leadership.Leadership`, :meth:`Scheduler.run` ticks
only while it leads, and every transaction it (and its reconciler, campaign steps, daily
pulls and completion) commits is fenced by the leader's token: work begun under a lease
since lost is refused, never done twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from campaign_engine.control.campaign_moves import complete_finished
from campaign_engine.control.fencing import NotLeader
from campaign_engine.control.leadership import Leadership
from campaign_engine.control.tick import run_campaign_steps
from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.dialer import due_contacts
from campaign_engine.dialer.dispatch_round import choose_round
from campaign_engine.dialer.reconciler import Reconciler
from campaign_engine.limits.backpressure import after_refusals, current_poll_plan
from campaign_engine.limits.limiter import lease_name
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.runtime import Runtime
from campaign_engine.states import ATTEMPT_HOLDING
from campaign_engine.vocobase.errors import RateLimited, VocobaseError
from campaign_engine.webhooks.apply import sweep

log = logging.getLogger(__name__)

DIAL_JOB = "dial_contacts"
CONCURRENCY_REFRESH_SECONDS = 300
WEBHOOK_SWEEP_AFTER_SECONDS = 5.0
ENQUEUE_CHUNK = 100
# Dispatch rounds brought forward by freed slots are at least this far apart.
MIN_ROUND_GAP_SECONDS = 0.025
# One wait for freed slots blocks a connection at most this long (then ``until`` is read).
RELEASE_WAIT_SECONDS = 0.5
# While "call now" jobs may be waiting, other jobs let them have the next free room first.
URGENT_FLAG_MS = 5000


@dataclass
class TickStats:
    enqueued: int = 0
    requeued: int = 0
    swept: int = 0
    completed: list[str] = field(default_factory=list)
    rebuilt_leases: int = 0


class Scheduler:
    def __init__(self, runtime: Runtime, leadership: Leadership | None = None) -> None:
        """Without ``leadership`` it always leads (one scheduler, as in tests)."""
        self.leadership = leadership
        if leadership is not None:
            runtime = dataclasses.replace(runtime, sessions=leadership.fenced(runtime.sessions))
        self.runtime = runtime
        self.reconciler = Reconciler(runtime)
        self._stopping = asyncio.Event()
        # The tick and the dispatch loop both dispatch; one at a time, or both would
        # count the same room as free.
        self._dispatching = asyncio.Lock()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Until :meth:`stop`: tick while leading (always, without a leadership)."""
        if self.leadership is None:
            await self._lead(self._stopping)
        else:
            await self.leadership.hold(self._lead, self._stopping)

    async def _lead(self, until: asyncio.Event) -> None:
        """Tick until ``until``; a failing tick is logged and the next one still runs.
        The reconciler runs beside the ticks, not in them: it waits for its budget's tokens
        (seconds apart at low limits), which must never hold up queueing due contacts."""
        await asyncio.gather(
            self._every_tick(self.tick, "scheduler tick", until),
            self._every_tick(self.reconciler.run_once, "reconciliation", until),
            self._dispatch_loop(until),
        )

    async def _dispatch_loop(self, until: asyncio.Event) -> None:
        """A round every ``dispatch_seconds``, and sooner when slots are freed (a call ended,
        a start was given back): a freed slot's next start then waits for the round itself,
        not for the next one due. Rounds stay at least ``MIN_ROUND_GAP_SECONDS`` (or
        ``dispatch_seconds``, if shorter) apart however fast slots are freed, so a busy
        fleet does not dispatch in a tight loop."""
        interval = self.runtime.settings.scheduler.dispatch_seconds
        gap = min(interval, MIN_ROUND_GAP_SECONDS)
        while not until.is_set():
            try:
                await self.enqueue_due()
            except NotLeader as exc:
                log.warning("dispatch refused: %s", exc)
            except Exception:
                log.exception("dispatch failed; trying again next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), timeout=gap)
            try:
                await self._until_freed(interval - gap, until)
            except Exception:
                log.exception("waiting for freed slots failed; dispatching on the timer")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), timeout=interval - gap)

    async def _until_freed(self, seconds: float, until: asyncio.Event) -> None:
        """Wait ``seconds`` at most, less once slots are freed or ``until`` is set."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not until.is_set():
            left = deadline - loop.time()
            # Redis reads a zero timeout as "for ever".
            if left < 0.001:
                return
            if await self.runtime.limiter.wait_freed(min(left, RELEASE_WAIT_SECONDS)):
                return

    async def _every_tick(
        self,
        step: Callable[[], Awaitable[object]],
        what: str,
        until: asyncio.Event,
        interval: float | None = None,
    ) -> None:
        interval = interval or self.runtime.settings.scheduler.tick_seconds
        while not until.is_set():
            try:
                await step()
            except NotLeader as exc:
                log.warning("%s refused: %s", what, exc)
            except Exception:
                log.exception("%s failed; trying again next tick", what)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(until.wait(), timeout=interval)

    async def tick(self) -> TickStats:
        stats = TickStats()
        stats.rebuilt_leases = await self.rebuild_if_redis_was_lost()
        await self.learn_concurrency()
        await run_campaign_steps(
            self.runtime.sessions, self.runtime.redis, self.runtime.keys, utcnow()
        )
        stats.enqueued = await self.enqueue_due()
        stats.requeued = await self.requeue_stale()
        await self.forget_answered_call_nows()
        stats.swept = await sweep(self.runtime, older_than_seconds=WEBHOOK_SWEEP_AFTER_SECONDS)
        async with self.runtime.sessions() as session, session.begin():
            stats.completed = await complete_finished(session)
        return stats

    async def enqueue_due(self, now: datetime | None = None) -> int:
        """Queue what the limits can start within ``dispatch_ahead_seconds``, "call now"
        contacts first, the rest shared out by priority (:mod:`dispatch`); how many."""
        async with self._dispatching:
            now = now or utcnow()
            async with self.runtime.sessions() as session, session.begin():
                chosen = await choose_round(session, self.runtime, now)
            for urgent, contacts in chosen:
                await self._enqueue(contacts, urgent=urgent)
            if any(urgent for urgent, _ in chosen):
                await self.runtime.redis.set(
                    self.runtime.keys.urgent_pending, "1", px=URGENT_FLAG_MS
                )
            return sum(len(contacts) for _, contacts in chosen)

    async def _enqueue(self, contacts: list[tuple[int, int]], *, urgent: bool = False) -> None:
        """Enqueue one campaign's ``(contact_id, attempts_count)``s, a job per chunk.

        Each job is named after its first contact's attempt plus the moment it was
        enqueued: never an id arq still holds. (A contact handed back without an attempt —
        no slot, a 429 — is queued again under the same attempt number, maybe while the job
        that handed it back still runs; an id of that job's would be refused, silently.)
        Doubling is what the database guards against: only ``waiting`` contacts are queued,
        and only ``queued`` ones are claimed, once. ``urgent`` jobs carry "call now"
        contacts: other jobs let them take the next free room first.
        """
        keys = self.runtime.keys
        size = self.runtime.settings.dialer.contacts_per_job
        suffix = f":{time.time_ns()}"
        extra: dict[str, Any] = {"urgent": True} if urgent else {}
        jobs = [contacts[start : start + size] for start in range(0, len(contacts), size)]
        for start in range(0, len(jobs), ENQUEUE_CHUNK):
            await asyncio.gather(
                *(
                    self.runtime.redis.enqueue_job(
                        DIAL_JOB,
                        [contact_id for contact_id, _ in job],
                        _job_id=keys.dial_job_id(job[0][0], job[0][1] + 1) + suffix,
                        _queue_name=keys.queue,
                        **extra,
                    )
                    for job in jobs[start : start + ENQUEUE_CHUNK]
                )
            )

    async def requeue_stale(self, *, older_than: timedelta | None = None) -> int:
        """Give back to waiting the contacts queued long ago, whose job Redis may have lost
        (or no worker took): they are dispatched again within the limits, never enqueued
        as a copy beside a job that may still be there."""
        settings = self.runtime.settings.scheduler
        if older_than is None:
            older_than = timedelta(seconds=settings.requeue_after_seconds)
        async with self.runtime.sessions() as session, session.begin():
            return await due_contacts.release_stale(
                session, utcnow() - older_than, settings.batch_size
            )

    async def forget_answered_call_nows(self) -> int:
        """A "call now" keeps its lane until its contact is claimed (see :mod:`due_contacts`)."""
        async with self.runtime.sessions() as session, session.begin():
            return await due_contacts.forget_answered_call_nows(session)

    async def rebuild_if_redis_was_lost(self) -> int:
        """When Redis lost our keys: re-take the leases of open calls, re-enqueue the queue.

        The sentinel key is set once everything is rebuilt; a flushed or restarted Redis
        has no sentinel, which is how we notice.
        """
        sentinel = self.runtime.keys.counter("epoch")
        if await self.runtime.redis.exists(sentinel):
            return 0
        async with self.runtime.sessions() as session:
            open_attempts = (
                await session.execute(
                    select(
                        CallAttempt.contact_id,
                        CallAttempt.attempt_number,
                        CallAttempt.provider,
                        CallAttempt.campaign_id,
                        CallAttempt.deadline_at,
                    ).where(CallAttempt.state.in_([state.value for state in ATTEMPT_HOLDING]))
                )
            ).all()
        now = utcnow()
        await self.runtime.limiter.hold_many(
            [
                (
                    slot_names_for(row.provider, row.campaign_id),
                    lease_name(row.contact_id, row.attempt_number),
                    max(int((row.deadline_at - now).total_seconds() * 1000), 1000),
                )
                for row in open_attempts
            ]
        )
        now_s, now_us = await self.runtime.redis.time()
        now_ms = now_s * 1000 + now_us // 1000
        requeued = await self.requeue_stale(older_than=timedelta(0))
        await self.runtime.redis.set(sentinel, str(now_ms))
        if open_attempts or requeued:
            log.warning(
                "Redis had no engine state: rebuilt %d leases, %d queued contacts wait to be "
                "dispatched again",
                len(open_attempts),
                requeued,
            )
        return len(open_attempts)

    async def learn_concurrency(self) -> None:
        """Read the partner's concurrency limit now and then (``"auto"`` uses it)."""
        keys = self.runtime.keys
        if await self.runtime.redis.exists(keys.learned_concurrency):
            return
        plan = await current_poll_plan(self.runtime)
        if not (await self.runtime.limiter.acquire(plan)).granted:
            return
        try:
            concurrency = await self.runtime.vocobase.get_concurrency()
        except VocobaseError as exc:
            log.warning("could not read GET /calls/concurrency: %s", exc)
            if isinstance(exc, RateLimited):
                await after_refusals(self.runtime, [exc])
            return
        await self.runtime.redis.set(
            keys.learned_concurrency, concurrency.limit, ex=CONCURRENCY_REFRESH_SECONDS
        )
        # This process's copy was read (for the poll's token) before the value was known.
        self.runtime.limit_state.forget()
