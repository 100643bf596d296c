"""Every limit a call start must pass, with its configured value and how much is in use.

Concurrency use comes from the limiter's live leases; request use in the current window is
estimated from attempts claimed in the last minute (the GCRA state holds no count). The
adaptive state — a cooldown after a 429, limits lowered after repeated 429s — is read from
the same Redis keys the dialer writes. So is which scheduler leads (any number may run; one
leads: :mod:`~campaign_engine.control.leadership`), since when and under which token.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel
from redis.asyncio import Redis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.config import LimitSettings
from campaign_engine.control.leadership import read_leader
from campaign_engine.db.models import CallAttempt, Campaign, utcnow
from campaign_engine.failure_kinds import REFUSED_WITH_429, kind_values
from campaign_engine.keys import RedisKeys
from campaign_engine.limits.limiter import Limiter
from campaign_engine.limits.plan import (
    VOCOBASE_ACTIVE,
    VOCOBASE_CALLS,
    campaign_key,
    effective_concurrency,
    provider_key,
)
from campaign_engine.states import AttemptState, CampaignState


class LimitUse(BaseModel):
    name: str
    kind: str  # "rate" (per minute) or "concurrency"
    limit: float
    in_use: int
    rate_limited_last_hour: int = 0


class LeadingScheduler(BaseModel):
    """The leading scheduler: ``leading`` while its lease is held (else the last leader's
    row: nobody leads until a scheduler takes the lease)."""

    leading: bool
    holder: str | None  # host:pid
    since: datetime | None
    token: int | None  # the fencing token, one more per new leader
    renewed_at: datetime | None
    lease_ms_left: int | None

    def describe(self) -> str:
        if self.holder is None:
            return "no scheduler has led yet"
        since = f"{self.since:%Y-%m-%d %H:%M:%S} UTC" if self.since else "?"
        if not self.leading:
            return f"no scheduler leads (the last was {self.holder}, token {self.token})"
        return f"{self.holder} since {since}, token {self.token}"


class LimitsView(BaseModel):
    limits: list[LimitUse]
    cooldown_ms: int
    learned_concurrency: int | None
    lowered_concurrency: int | None
    lowered_rate_factor: float | None
    scheduler_leader: LeadingScheduler | None = None


def _number(raw: bytes | str | None) -> float | None:
    if raw is None:
        return None
    return float(raw.decode() if isinstance(raw, bytes) else raw)


async def limits_view(
    session: AsyncSession,
    redis: Redis,
    keys: RedisKeys,
    limits: LimitSettings,
    *,
    now: datetime | None = None,
    with_rates: bool = True,
) -> LimitsView:
    """Every limit with its use. ``with_rates=False`` leaves the rate limits' use at 0: their
    counts of recent attempts read an index of every attempt, which ``/metrics`` (concurrency
    only) must not pay at each scrape."""
    now = now or utcnow()
    limiter = Limiter(redis, keys)
    learned = _number(await redis.get(keys.learned_concurrency))
    lowered = _number(await redis.get(keys.lowered_concurrency))
    factor = _number(await redis.get(keys.lowered_rate))
    cooldown = int(await redis.pttl(keys.cooldown))
    requests: dict[str, int] = {}
    refused: dict[str, int] = {}
    if with_rates:
        requests = dict(
            (
                await session.execute(
                    select(CallAttempt.provider, func.count())
                    .where(CallAttempt.claimed_at >= now - timedelta(minutes=1))
                    .group_by(CallAttempt.provider)
                )
            ).all()
        )
        refused = dict(
            (
                await session.execute(
                    select(CallAttempt.provider, func.count())
                    .where(
                        CallAttempt.claimed_at >= now - timedelta(hours=1),
                        CallAttempt.state == AttemptState.NOT_SENT.value,
                        CallAttempt.failure_kind.in_(kind_values(REFUSED_WITH_429)),
                    )
                    .group_by(CallAttempt.provider)
                )
            ).all()
        )
    concurrency = effective_concurrency(
        limits,
        int(learned) if learned is not None else None,
        int(lowered) if lowered is not None else None,
    )
    rows = [
        LimitUse(
            name=VOCOBASE_CALLS,
            kind="rate",
            limit=limits.vocobase.calls_per_minute * (factor or 1.0),
            in_use=sum(int(n) for n in requests.values()),
            rate_limited_last_hour=sum(int(n) for n in refused.values()),
        ),
        LimitUse(
            name=VOCOBASE_ACTIVE,
            kind="concurrency",
            limit=concurrency,
            in_use=await limiter.in_use(VOCOBASE_ACTIVE),
        ),
    ]
    for provider, settings in sorted(limits.providers.items()):
        key = provider_key(provider)
        rows.append(
            LimitUse(
                name=key,
                kind="rate",
                limit=round(settings.calls_per_second * 60, 3),
                in_use=int(requests.get(provider, 0)),
                rate_limited_last_hour=int(refused.get(provider, 0)),
            )
        )
        if settings.max_concurrent is not None:
            rows.append(
                LimitUse(
                    name=key,
                    kind="concurrency",
                    limit=settings.max_concurrent,
                    in_use=await limiter.in_use(key),
                )
            )
    running = (
        await session.scalars(
            select(Campaign).where(
                Campaign.state == CampaignState.RUNNING.value,
                Campaign.max_concurrent.is_not(None),
            )
        )
    ).all()
    for campaign in running:
        key = campaign_key(campaign.id)
        rows.append(
            LimitUse(
                name=key,
                kind="concurrency",
                limit=campaign.max_concurrent or 0,
                in_use=await limiter.in_use(key),
            )
        )
    leader = await read_leader(session, redis, keys)
    return LimitsView(
        scheduler_leader=LeadingScheduler(
            leading=leader.leading,
            holder=leader.holder,
            since=leader.since,
            token=leader.token,
            renewed_at=leader.renewed_at,
            lease_ms_left=leader.lease_ms_left,
        ),
        limits=rows,
        cooldown_ms=max(0, cooldown),
        learned_concurrency=int(learned) if learned is not None else None,
        lowered_concurrency=int(lowered) if lowered is not None else None,
        lowered_rate_factor=factor,
    )
