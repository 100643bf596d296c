"""The scheduler: the database decides who is due; Redis only carries the jobs.

Every tick it moves due contacts of running campaigns to ``queued`` (committed) and then
enqueues them, ``dialer.contacts_per_job`` of one campaign per arq job. Because the state
is committed first, anything Redis loses is found again: a contact ``queued`` for too long
is enqueued again (a job's id is deterministic — its first contact's — so a job still there
is not doubled), and when Redis comes back empty the concurrency leases of calls still open
are rebuilt from their attempt rows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from campaign_engine.control.campaign_moves import complete_finished
from campaign_engine.control.tick import run_campaign_steps
from campaign_engine.db.models import CallAttempt, Campaign, Contact, utcnow
from campaign_engine.dialer.reconciler import Reconciler
from campaign_engine.limits.backpressure import after_refusals, current_poll_plan
from campaign_engine.limits.limiter import lease_name
from campaign_engine.limits.plan import slot_names_for
from campaign_engine.runtime import Runtime
from campaign_engine.states import (
    ATTEMPT_HOLDING,
    CONTACT_WAITING,
    CampaignState,
    ContactState,
    contact_guard,
)
from campaign_engine.vocobase.errors import RateLimited, VocobaseError
from campaign_engine.webhooks.apply import sweep

log = logging.getLogger(__name__)

_QUEUEABLE = contact_guard(CONTACT_WAITING, ContactState.QUEUED)

DIAL_JOB = "dial_contacts"
CONCURRENCY_REFRESH_SECONDS = 300
WEBHOOK_SWEEP_AFTER_SECONDS = 5.0
ENQUEUE_CHUNK = 100


@dataclass
class TickStats:
    enqueued: int = 0
    requeued: int = 0
    swept: int = 0
    completed: list[str] = field(default_factory=list)
    rebuilt_leases: int = 0


class Scheduler:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.reconciler = Reconciler(runtime)
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Tick until :meth:`stop`; a failing tick is logged and the next one still runs.
        The reconciler runs beside the ticks, not in them: it waits for its budget's tokens
        (seconds apart at low limits), which must never hold up queueing due contacts."""
        await asyncio.gather(
            self._every_tick(self.tick, "scheduler tick"),
            self._every_tick(self.reconciler.run_once, "reconciliation"),
        )

    async def _every_tick(self, step: Callable[[], Awaitable[object]], what: str) -> None:
        interval = self.runtime.settings.scheduler.tick_seconds
        while not self._stopping.is_set():
            try:
                await step()
            except Exception:
                log.exception("%s failed; trying again next tick", what)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval)

    async def tick(self) -> TickStats:
        stats = TickStats()
        stats.rebuilt_leases = await self.rebuild_if_redis_was_lost()
        await self.learn_concurrency()
        await run_campaign_steps(
            self.runtime.sessions, self.runtime.redis, self.runtime.keys, utcnow()
        )
        stats.enqueued = await self.enqueue_due()
        stats.requeued = await self.requeue_stale()
        stats.swept = await sweep(self.runtime, older_than_seconds=WEBHOOK_SWEEP_AFTER_SECONDS)
        async with self.runtime.sessions() as session, session.begin():
            stats.completed = await complete_finished(session)
        return stats

    async def enqueue_due(self, now: datetime | None = None) -> int:
        """Queue the due contacts of every running campaign, up to a bounded queue depth."""
        now = now or utcnow()
        batch = self.runtime.settings.scheduler.batch_size
        waiting = [state.value for state in CONTACT_WAITING]
        chosen: list[list[tuple[int, int]]] = []
        async with self.runtime.sessions() as session, session.begin():
            running = (
                await session.scalars(
                    select(Campaign.id).where(Campaign.state == CampaignState.RUNNING.value)
                )
            ).all()
            for campaign_id in running:
                room = batch - await self._queued_count(campaign_id)
                if room <= 0:
                    continue
                rows = (
                    await session.execute(
                        select(Contact.id, Contact.attempts_count)
                        .where(
                            Contact.campaign_id == campaign_id,
                            Contact.state.in_(waiting),
                            Contact.next_attempt_at <= now,
                        )
                        .order_by(Contact.next_attempt_at)
                        .limit(room)
                    )
                ).all()
                ids = [row.id for row in rows]
                if not ids:
                    continue
                result = await session.execute(
                    update(Contact)
                    .where(Contact.id.in_(ids), Contact.state.in_(_QUEUEABLE))
                    .values(state=ContactState.QUEUED.value, queued_at=now)
                )
                if getattr(result, "rowcount", 0) != len(ids):
                    raise RuntimeError("contacts changed under the scheduler; retrying next tick")
                chosen.append([(row.id, row.attempts_count) for row in rows])
        for contacts in chosen:
            await self._enqueue(contacts)
        return sum(len(contacts) for contacts in chosen)

    async def _queued_count(self, campaign_id: str) -> int:
        async with self.runtime.sessions() as session:
            return int(
                await session.scalar(
                    select(func.count())
                    .select_from(Contact)
                    .where(
                        Contact.campaign_id == campaign_id,
                        Contact.state == ContactState.QUEUED.value,
                    )
                )
                or 0
            )

    async def _enqueue(self, contacts: list[tuple[int, int]]) -> None:
        """Enqueue one campaign's ``(contact_id, attempts_count)``s, a job per chunk.

        Each job is named after its first contact's attempt plus the moment it was
        enqueued: never an id arq still holds. (A contact handed back without an attempt —
        no slot, a 429 — is queued again under the same attempt number, maybe while the job
        that handed it back still runs; an id of that job's would be refused, silently.)
        Doubling is what the database guards against: only ``waiting`` contacts are queued,
        and only ``queued`` ones are claimed, once.
        """
        keys = self.runtime.keys
        size = self.runtime.settings.dialer.contacts_per_job
        suffix = f":{time.time_ns()}"
        jobs = [contacts[start : start + size] for start in range(0, len(contacts), size)]
        for start in range(0, len(jobs), ENQUEUE_CHUNK):
            await asyncio.gather(
                *(
                    self.runtime.redis.enqueue_job(
                        DIAL_JOB,
                        [contact_id for contact_id, _ in job],
                        _job_id=keys.dial_job_id(job[0][0], job[0][1] + 1) + suffix,
                        _queue_name=keys.queue,
                    )
                    for job in jobs[start : start + ENQUEUE_CHUNK]
                )
            )

    async def requeue_stale(self, *, older_than: timedelta | None = None) -> int:
        """Enqueue again contacts queued long ago whose job Redis may have lost."""
        settings = self.runtime.settings.scheduler
        if older_than is None:
            older_than = timedelta(seconds=settings.requeue_after_seconds)
        cutoff = utcnow() - older_than
        async with self.runtime.sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(Contact.id, Contact.attempts_count, Contact.campaign_id)
                    .where(
                        # Per campaign, so ix_contacts_due is used: no scan of all contacts.
                        Contact.campaign_id.in_(select(Campaign.id)),
                        Contact.state == ContactState.QUEUED.value,
                        Contact.queued_at <= cutoff,
                    )
                    .limit(settings.batch_size)
                )
            ).all()
            if rows:
                await session.execute(
                    update(Contact)
                    .where(Contact.id.in_([row.id for row in rows]))
                    .values(queued_at=utcnow())
                )
        by_campaign: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for row in rows:
            by_campaign[row.campaign_id].append((row.id, row.attempts_count))
        for contacts in by_campaign.values():
            await self._enqueue(contacts)
        return len(rows)

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
                "Redis had no engine state: rebuilt %d leases, re-enqueued %d contacts",
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
