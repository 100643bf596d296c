"""``/metrics``: the engine's state for Prometheus, read from the database and Redis at
scrape time.

The database is the source of truth, so the numbers come from it rather than from
in-process counters: every worker, scheduler and server process agrees, and a restart resets
nothing. Counters are counts of rows that only grow. The one in-process number is webhook
signature refusals, which are never stored.

A scrape must stay cheap at millions of contacts. What changes by the second — open attempts
past their deadline, queued contacts, the webhook inbox, the limits — is read on every scrape
through indexes, so it costs what is in flight, not what the tables hold. The counts over
whole tables (contacts by state, calls by provider and outcome, the retry queue) cannot be
had from an index alone; they are read at most once per ``server.metrics_cache_seconds`` per
process (one reading at a time, shared by concurrent scrapes) and served from memory between.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from campaign_engine.db.models import CallAttempt, Campaign, Contact, WebhookEvent, utcnow
from campaign_engine.dialer.dispatch import queue_bound
from campaign_engine.failure_kinds import REFUSED_WITH_429, kind_values
from campaign_engine.ops.limits_view import limits_view
from campaign_engine.ops.retry_reasons import reason_of, waiting_for_retry
from campaign_engine.runtime import Runtime
from campaign_engine.states import ATTEMPT_OPEN, AttemptState, ContactState, InboxStatus
from campaign_engine.webhooks.verify import SIGNATURE_FORMS

PREFIX = "campaign_engine"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Webhook lag is measured over deliveries processed this recently (at most LAG_SAMPLE).
LAG_WINDOW = timedelta(minutes=5)
LAG_SAMPLE = 1000
# ... among those received this recently: the inbox index (status, received_at) bounds the
# read. A delivery that waited longer shows in the unprocessed age while it waits.
LAG_RECEIVED_WINDOW = 3 * LAG_WINDOW

# Refused before anything is stored, so only this process can count them.
SIGNATURE_FAILURES = Counter(
    f"{PREFIX}_webhook_signature_failures",
    "Webhook deliveries refused (bad or missing signature, stale timestamp) by this process.",
    registry=None,
)


class _Snapshot(Collector):
    """Hands out metric families computed beforehand (collect() cannot await)."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        yield from self._families


def _name(value: str | None) -> str:
    return value or "none"


async def _attempt_counts(session: AsyncSession) -> list[Metric]:
    started = CounterMetricFamily(
        f"{PREFIX}_calls_started", "Calls Vocobase accepted.", labels=["provider"]
    )
    for provider, count in await session.execute(
        select(CallAttempt.provider, func.count())
        .where(CallAttempt.started_at.is_not(None))
        .group_by(CallAttempt.provider)
    ):
        started.add_metric([provider], count)
    ended = CounterMetricFamily(
        f"{PREFIX}_calls_ended", "Attempts closed, by outcome.", labels=["provider", "outcome"]
    )
    for provider, outcome, count in await session.execute(
        select(CallAttempt.provider, CallAttempt.outcome, func.count())
        .where(CallAttempt.state.in_([AttemptState.ENDED.value, AttemptState.EXPIRED.value]))
        .group_by(CallAttempt.provider, CallAttempt.outcome)
    ):
        ended.add_metric([provider, _name(outcome)], count)
    refused = CounterMetricFamily(
        f"{PREFIX}_rate_limited", "Call starts refused with a 429.", labels=["provider"]
    )
    for provider, count in await session.execute(
        select(CallAttempt.provider, func.count())
        .where(
            CallAttempt.state == AttemptState.NOT_SENT.value,
            CallAttempt.failure_kind.in_(kind_values(REFUSED_WITH_429)),
        )
        .group_by(CallAttempt.provider)
    ):
        refused.add_metric([provider], count)
    return [started, ended, refused]


async def _reconciler_backlog(session: AsyncSession) -> list[Metric]:
    """Open attempts past their deadline: a range of ``ix_call_attempts_open``."""
    backlog = GaugeMetricFamily(
        f"{PREFIX}_reconciler_backlog", "Open attempts past their deadline (no outcome yet)."
    )
    backlog.add_metric(
        [],
        await session.scalar(
            select(func.count()).where(
                CallAttempt.state.in_([s.value for s in ATTEMPT_OPEN]),
                CallAttempt.deadline_at < utcnow(),
            )
        )
        or 0,
    )
    return [backlog]


async def _contact_counts(session: AsyncSession) -> list[Metric]:
    why = reason_of()
    queue = GaugeMetricFamily(
        f"{PREFIX}_retry_queue_depth", "Contacts waiting for a retry.", labels=["reason"]
    )
    for reason, count in await session.execute(
        select(why, func.count()).where(waiting_for_retry()).group_by(why)
    ):
        queue.add_metric([str(reason)], count)
    states = GaugeMetricFamily(f"{PREFIX}_contacts", "Contacts by state.", labels=["state"])
    imported = CounterMetricFamily(f"{PREFIX}_imported_rows", "Contact rows imported.")
    total = 0
    for state, count in await session.execute(
        select(Contact.state, func.count()).group_by(Contact.state)
    ):
        states.add_metric([state], count)
        total += int(count)
    imported.add_metric([], total)
    return [queue, states, imported]


async def _webhook_lag(session: AsyncSession) -> list[Metric]:
    now = utcnow()
    done = [status.value for status in InboxStatus if status != InboxStatus.RECEIVED]
    rows = (
        await session.execute(
            select(WebhookEvent.received_at, WebhookEvent.processed_at)
            .where(
                WebhookEvent.status.in_(done),
                WebhookEvent.received_at >= now - LAG_RECEIVED_WINDOW,
                WebhookEvent.processed_at >= now - LAG_WINDOW,
            )
            .order_by(WebhookEvent.received_at.desc())
            .limit(LAG_SAMPLE)
        )
    ).all()
    lags = [(done - got).total_seconds() for got, done in rows if done is not None]
    lag = GaugeMetricFamily(
        f"{PREFIX}_webhook_lag_seconds",
        "Received-to-processed delay of recent webhooks.",
        labels=["stat"],
    )
    lag.add_metric(["max"], max(lags, default=0.0))
    lag.add_metric(["mean"], sum(lags) / len(lags) if lags else 0.0)
    oldest = await session.scalar(
        select(func.min(WebhookEvent.received_at)).where(
            WebhookEvent.status == InboxStatus.RECEIVED.value
        )
    )
    waiting = GaugeMetricFamily(
        f"{PREFIX}_webhook_unprocessed_age_seconds", "Age of the oldest unprocessed webhook."
    )
    waiting.add_metric([], (now - oldest).total_seconds() if oldest is not None else 0.0)
    return [lag, waiting]


async def _limit_use(session: AsyncSession, runtime: Runtime) -> list[Metric]:
    view = await limits_view(
        session, runtime.redis, runtime.keys, runtime.settings.limits, with_rates=False
    )
    in_use = GaugeMetricFamily(
        f"{PREFIX}_limit_in_use", "Leases held (calls in flight) per limit.", labels=["limit"]
    )
    capacity = GaugeMetricFamily(
        f"{PREFIX}_limit_capacity", "Concurrency in force per limit.", labels=["limit"]
    )
    for row in view.limits:
        if row.kind == "concurrency":
            in_use.add_metric([row.name], row.in_use)
            capacity.add_metric([row.name], row.limit)
    cooldown = GaugeMetricFamily(f"{PREFIX}_cooldown_seconds", "Fleet-wide 429 cooldown left.")
    cooldown.add_metric([], view.cooldown_ms / 1000)
    return [in_use, capacity, cooldown]


async def _dial_queue(session: AsyncSession, runtime: Runtime) -> list[Metric]:
    """The dial queue against its bound: it holds work that can run, never the backlog."""
    jobs = GaugeMetricFamily(f"{PREFIX}_dial_queue_jobs", "Dial jobs waiting in the arq queue.")
    jobs.add_metric([], await runtime.redis.zcard(runtime.keys.queue))
    contacts = GaugeMetricFamily(
        f"{PREFIX}_dial_queue_contacts", "Contacts queued for dialing (in jobs not yet run)."
    )
    contacts.add_metric([], await _queued_contacts(session))
    state = await runtime.limit_state.get(runtime.redis, runtime.keys)
    settings = runtime.settings
    bound = GaugeMetricFamily(
        f"{PREFIX}_dial_queue_bound",
        "Most contacts the queue may hold: scheduler.queue_bound_factor x the concurrency.",
    )
    bound.add_metric(
        [], queue_bound(settings.scheduler.queue_bound_factor, state.concurrency(settings.limits))
    )
    return [jobs, contacts, bound]


async def _queued_contacts(session: AsyncSession) -> int:
    """Contacts queued, counted campaign by campaign: each count is a range of
    ``ix_contacts_due`` (campaign, state), so it costs the queued rows, never the table."""
    per_campaign = (
        select(func.count())
        .where(Contact.campaign_id == Campaign.id, Contact.state == ContactState.QUEUED.value)
        .correlate(Campaign)
        .scalar_subquery()
    )
    counts = select(per_campaign.label("queued")).select_from(Campaign).subquery()
    return int(await session.scalar(select(func.coalesce(func.sum(counts.c.queued), 0))) or 0)


@dataclass
class _Reading:
    """The last reading of the whole-table counts in this process, and when it was taken."""

    families: list[Metric] = field(default_factory=list)
    taken: float | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


# One reading per database engine (a process normally has one; tests have many).
_readings: weakref.WeakKeyDictionary[AsyncEngine, _Reading] = weakref.WeakKeyDictionary()


async def _table_counts(runtime: Runtime) -> list[Metric]:
    """The whole-table counts, read again once they are ``metrics_cache_seconds`` old."""
    reading = _readings.setdefault(runtime.engine, _Reading())
    max_age = runtime.settings.server.metrics_cache_seconds

    def fresh() -> bool:
        return reading.taken is not None and time.monotonic() - reading.taken < max_age

    if fresh():
        return reading.families
    async with reading.lock:
        if not fresh():  # another scrape may have read them while this one waited
            async with runtime.sessions() as session:
                families = [*await _attempt_counts(session), *await _contact_counts(session)]
            reading.families, reading.taken = families, time.monotonic()
    return reading.families


async def render(runtime: Runtime) -> bytes:
    """The text exposition of every metric: the whole-table counts as last read (see
    :func:`_table_counts`), everything else read now."""
    table_counts = await _table_counts(runtime)
    async with runtime.sessions() as session:
        families = [
            *table_counts,
            *await _reconciler_backlog(session),
            *await _webhook_lag(session),
            *await _limit_use(session, runtime),
            *await _dial_queue(session, runtime),
        ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    registry.register(SIGNATURE_FAILURES)
    registry.register(SIGNATURE_FORMS)
    return generate_latest(registry)
