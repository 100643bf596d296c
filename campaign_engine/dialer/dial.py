"""The dial job: a batch of one campaign's contacts, from free slots to stored call_ids.

One arq job carries many contacts, so the per-job cost of the queue and the per-statement
cost of the database are paid once per batch, not once per call. Order matters and is the
whole point of this module and of :mod:`wave`:

1. read the contacts and their campaign (one query); give them back if the campaign is not
   running; close the suppressed, and give back for later those that may not be called now
   (the gate, one transaction for the batch);
2. take every limit for as many of them as every limit has room for (one Redis round
   trip) — nothing is claimed while a contact waits;
3. claim, start and record that wave (:mod:`wave`) while the rest wait for room;
4. repeat until every contact is started or handed back: no room within
   ``dialer.max_wait_seconds`` (and never much beyond the scheduler's dispatch horizon: a
   job waiting for a busy limit must not keep a worker's job slot from other campaigns),
   or the worker is stopping (SIGTERM).

The scheduler only queues what the limits can start soon, so a job rarely waits. An
``urgent`` job carries operators' "call now" contacts; while one may be waiting, the
others wait a little longer each time, so that it takes the next free room.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from arq import Retry
from sqlalchemy.exc import DBAPIError

from campaign_engine.campaigns.window_check import window_hold
from campaign_engine.db.models import utcnow
from campaign_engine.dialer import attempts, gate
from campaign_engine.dialer.targets import DialTarget, load_targets
from campaign_engine.dialer.wave import run_wave
from campaign_engine.failure_kinds import FailureKind
from campaign_engine.limits.plan import LimitPlan, slot_names_for, start_plan
from campaign_engine.runtime import Runtime
from campaign_engine.states import CampaignState, ContactState

# How much later an ordinary job asks again for room while "call now" jobs may be waiting.
YIELD_SECONDS = 0.05
RETRY_AFTER_LOST_CONNECTION_SECONDS = 0.2


async def dial_contacts(
    ctx: dict[str, Any], contact_ids: list[int], urgent: bool = False
) -> dict[str, int]:
    """arq job entry point; returns how many contacts went which way (for logs/tests)."""
    runtime: Runtime = ctx["runtime"]
    tally: Counter[str] = Counter()
    try:
        ready = await _admit(runtime, contact_ids, tally)
    except DBAPIError as exc:
        # A pooled connection that died with its server (a PostgreSQL restart): nothing is
        # taken yet, so the job runs again at once on a fresh connection, instead of its
        # contacts waiting ``requeue_after_seconds`` in ``queued``.
        if exc.connection_invalidated:
            raise Retry(defer=RETRY_AFTER_LOST_CONNECTION_SECONDS) from exc
        raise
    by_campaign: dict[str, list[DialTarget]] = defaultdict(list)
    for target in ready:
        by_campaign[target.campaign_id].append(target)
    for targets in by_campaign.values():
        tally.update(await _dial(runtime, targets, urgent=urgent))
    return dict(+tally)


async def _admit(runtime: Runtime, contact_ids: list[int], tally: Counter[str]) -> list[DialTarget]:
    """Read the batch and keep those that may be called now (one transaction)."""
    async with runtime.sessions() as session, session.begin():
        targets = await load_targets(session, contact_ids)
        tally["missing"] += len(contact_ids) - len(targets)
        queued = [t for t in targets if t.contact_state == ContactState.QUEUED.value]
        tally["not-queued"] += len(targets) - len(queued)
        stopped: dict[str, list[DialTarget]] = defaultdict(list)
        for target in queued:
            if target.campaign_state != CampaignState.RUNNING.value:
                stopped[target.campaign_state].append(target)
        for state, group in stopped.items():
            await attempts.hand_back(
                session, group, reason=f"campaign {state}", kind=FailureKind.CAMPAIGN_NOT_RUNNING
            )
            tally["campaign-not-running"] += len(group)
        running = [t for t in queued if t.campaign_state == CampaignState.RUNNING.value]
        allowed, refused = await gate.admit(
            session,
            running,
            utcnow(),
            daily_cap=runtime.settings.compliance.max_attempts_per_number_per_day,
        )
    tally.update(refused)
    return allowed


async def _dial(
    runtime: Runtime, targets: list[DialTarget], *, urgent: bool = False
) -> Counter[str]:
    """Take limits for the waiting targets wave after wave; each wave runs while the
    next waits for room. Waits at most :func:`longest_wait` for room in all."""
    tally: Counter[str] = Counter()
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + longest_wait(runtime)
    waves: list[asyncio.Task[Counter[str]]] = []
    waiting = list(targets)
    while waiting and not runtime.stopping.is_set():  # stopping: start nothing new
        grants = await runtime.limiter.acquire_many(
            await _plan(runtime, waiting[0]), [t.lease for t in waiting], _request_ttl_ms(runtime)
        )
        if grants.held:  # another job has these contacts: it handles them
            held = set(grants.held)
            tally["held-elsewhere"] += len(held)
            waiting = [t for t in waiting if t.lease not in held]
        if grants.granted:
            granted = set(grants.granted)
            wave = [t for t in waiting if t.lease in granted]
            waiting = [t for t in waiting if t.lease not in granted]
            wave = await _still_in_window(runtime, wave, tally)
            if wave:
                waves.append(asyncio.create_task(run_wave(runtime, wave)))
            continue
        remaining = give_up_at - loop.time()
        if not waiting or remaining <= 0:
            break
        pause = min(grants.wait_ms / 1000, remaining, 1.0)
        if not urgent and await runtime.redis.exists(runtime.keys.urgent_pending):
            pause += YIELD_SECONDS
        await asyncio.sleep(pause)
    if waiting:
        async with runtime.sessions() as session, session.begin():
            await attempts.hand_back(session, waiting, reason=None, kind=FailureKind.NO_SLOT)
        tally["no-slot"] += len(waiting)
    for result in await asyncio.gather(*waves, return_exceptions=True):
        if isinstance(result, BaseException):
            raise result
        tally.update(result)
    return tally


def longest_wait(runtime: Runtime) -> float:
    """How long a job waits for room: ``max_wait_seconds``, and no longer than twice the
    scheduler's horizon and a second (what it was queued for should have started by then)."""
    ahead = runtime.settings.scheduler.dispatch_ahead_seconds
    return min(runtime.settings.dialer.max_wait_seconds, 2 * ahead + 1)


async def _plan(runtime: Runtime, target: DialTarget) -> LimitPlan:
    limits = runtime.settings.limits
    state = await runtime.limit_state.get(runtime.redis, runtime.keys)
    return start_plan(
        limits,
        provider=target.provider,
        campaign_id=target.campaign_id,
        campaign_max_concurrent=target.max_concurrent,
        campaign_calls_per_minute=target.calls_per_minute,
        vocobase_concurrency=state.concurrency(limits),
        rate_factor=state.rate_factor,
    )


async def _still_in_window(
    runtime: Runtime, wave: Sequence[DialTarget], tally: Counter[str]
) -> list[DialTarget]:
    """The gate's window check once more, as room was found: a window may have closed while
    the contacts waited. Those now outside give their leases back and wait for it."""
    now = utcnow()
    late = {t.contact_id: hold for t in wave if (hold := window_hold(t.calendar, now))}
    if not late:
        return list(wave)
    behind = [t for t in wave if t.contact_id in late]
    await runtime.limiter.release_many(
        [(slot_names_for(t.provider, t.campaign_id), t.lease) for t in behind]
    )
    async with runtime.sessions() as session, session.begin():
        for target in behind:
            hold = late[target.contact_id]
            await attempts.hand_back(
                session,
                [target],
                due_at=hold.until,
                parked=hold.until is None,
                reason=hold.reason,
                kind=FailureKind.NOT_NOW if hold.until else FailureKind.PARKED,
            )
    tally["not-now"] += len(behind)
    return [t for t in wave if t.contact_id not in late]


def _request_ttl_ms(runtime: Runtime) -> int:
    """A lease is short at first — long enough for the start request — and is extended to
    the call's whole possible length once the call may exist, so a job that dies before
    sending frees its slot soon."""
    return int((runtime.settings.vocobase.longest_request_seconds + 30) * 1000)
