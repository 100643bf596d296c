"""What every limit can start within the next few seconds, read from the limiter's own keys.

One pipeline reads Redis's clock, the fleet's 429 cooldown, each rate's theoretical arrival
time and each concurrency set's live leases; :mod:`dispatch` turns them into room. Nothing
is taken: the dial job still takes its limits through the limiter, so a reading that is
a little stale costs a short wait in a job, never a limit overrun.
"""

from __future__ import annotations

from collections.abc import Iterable

from redis.asyncio import Redis

from campaign_engine.dialer.dispatch import rate_name, rate_room, slot_name, slot_room
from campaign_engine.keys import RedisKeys
from campaign_engine.limits.plan import LimitPlan, RateLimit, SlotLimit


async def read_room(
    redis: Redis, keys: RedisKeys, plans: Iterable[LimitPlan], ahead_ms: int
) -> dict[str, int]:
    """Room per limit (:func:`dispatch.room_names`) of every limit in ``plans``; all zero
    while the fleet cools down after a 429."""
    rates: dict[str, RateLimit] = {}
    slots: dict[str, SlotLimit] = {}
    for plan in plans:
        for rate in plan.rates:
            rates.setdefault(rate.name, rate)
        for slot in plan.slots:
            known = slots.get(slot.name)
            # A limit read from several plans (the partner's, a provider's) is one number;
            # the smallest wins should they ever differ.
            if known is None or slot.limit < known.limit:
                slots[slot.name] = slot
    now_s, now_us = await redis.time()
    now_ms = int(now_s) * 1000 + int(now_us) // 1000
    async with redis.pipeline(transaction=False) as pipe:
        pipe.pttl(keys.cooldown)
        for name in rates:
            pipe.get(keys.rate(name))
        for name in slots:
            pipe.zcount(keys.slots(name), now_ms + 1, "+inf")
        cooldown, *values = await pipe.execute()
    tats, in_use = values[: len(rates)], values[len(rates) :]
    room: dict[str, int] = {}
    for (name, rate), tat in zip(rates.items(), tats, strict=True):
        stored = int(float(tat)) if tat is not None else None
        room[rate_name(name)] = rate_room(stored, now_ms, rate.interval_ms, rate.burst, ahead_ms)
    for (name, slot), used in zip(slots.items(), in_use, strict=True):
        room[slot_name(name)] = slot_room(slot.limit, int(used))
    if int(cooldown) > 0:
        return dict.fromkeys(room, 0)
    return room
