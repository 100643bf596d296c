"""``/metrics``: the engine's state for Prometheus, read from the database and Redis at
scrape time.

The database is the source of truth, so the numbers come from it (grouped counts over
indexed columns) rather than from in-process counters: every worker, scheduler and server
process agrees, and a restart resets nothing. Counters are counts of rows that only grow.
The one in-process number is webhook signature refusals, which are never stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import CallAttempt, Contact, WebhookEvent, utcnow
from campaign_engine.failure_kinds import REFUSED_WITH_429, kind_values
from campaign_engine.ops.limits_view import limits_view
from campaign_engine.ops.retry_reasons import reason_of, waiting_for_retry
from campaign_engine.runtime import Runtime
from campaign_engine.states import ATTEMPT_OPEN, AttemptState, InboxStatus
from campaign_engine.webhooks.verify import SIGNATURE_FORMS

PREFIX = "campaign_engine"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Webhook lag is measured over deliveries processed this recently (at most LAG_SAMPLE).
LAG_WINDOW = timedelta(minutes=5)
LAG_SAMPLE = 1000

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
    return [started, ended, refused, backlog]


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
    rows = (
        await session.execute(
            select(WebhookEvent.received_at, WebhookEvent.processed_at)
            .where(WebhookEvent.processed_at >= now - LAG_WINDOW)
            .order_by(WebhookEvent.processed_at.desc())
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
    view = await limits_view(session, runtime.redis, runtime.keys, runtime.settings.limits)
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


async def render(runtime: Runtime) -> bytes:
    """The text exposition of every metric, read now."""
    async with runtime.sessions() as session:
        families = [
            *await _attempt_counts(session),
            *await _contact_counts(session),
            *await _webhook_lag(session),
            *await _limit_use(session, runtime),
        ]
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    registry.register(SIGNATURE_FAILURES)
    registry.register(SIGNATURE_FORMS)
    return generate_latest(registry)
