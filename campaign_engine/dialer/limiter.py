"""The shared limiter: one Lua script checks and takes every limit in one round trip.

It runs on Redis's clock (``TIME``), so workers on several machines agree without
synchronised clocks. Rates are GCRA (one key holding the theoretical arrival time);
concurrency is a sorted set of leases scored by their expiry, so a lease whose release is
lost (killed worker, lost webhook) expires by itself. Nothing is taken unless everything
is free: a denied request leaves no trace.
"""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from campaign_engine.dialer.limit_plan import LimitPlan
from campaign_engine.keys import RedisKeys

# KEYS: cooldown, rate keys..., slot keys...
# ARGV: n_rates, n_slots, lease, lease_ttl_ms, slot_poll_ms, (interval, burst)..., limit...
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cooling = redis.call('PTTL', KEYS[1])
if cooling > 0 then return {0, cooling, 'cooldown'} end
local n_rates = tonumber(ARGV[1])
local n_slots = tonumber(ARGV[2])
local lease = ARGV[3]
local ttl = tonumber(ARGV[4])
local slot_poll = tonumber(ARGV[5])
local arg = 6
local wait = 0
local blocked = ''
local tats = {}
-- A lease belongs to whoever took it: another job for the same attempt steps aside.
if n_slots > 0 and lease ~= '' then
  local held = redis.call('ZSCORE', KEYS[2 + n_rates], lease)
  if held and tonumber(held) > now then return {0, -1, 'held'} end
end
for i = 1, n_rates do
  local interval = tonumber(ARGV[arg])
  local burst = tonumber(ARGV[arg + 1])
  arg = arg + 2
  local tat = tonumber(redis.call('GET', KEYS[1 + i]) or now)
  if tat < now then tat = now end
  local allow_at = tat - (burst - 1) * interval
  if allow_at > now and allow_at - now > wait then
    wait = allow_at - now
    blocked = KEYS[1 + i]
  end
  tats[i] = tat + interval
end
for j = 1, n_slots do
  local key = KEYS[1 + n_rates + j]
  local limit = tonumber(ARGV[arg])
  arg = arg + 1
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZCARD', key) >= limit then
    if wait < slot_poll then
      wait = slot_poll
      blocked = key
    end
  end
end
if wait > 0 then return {0, wait, blocked} end
for i = 1, n_rates do
  redis.call('SET', KEYS[1 + i], tats[i], 'PX', tats[i] - now + 60000)
end
for j = 1, n_slots do
  local key = KEYS[1 + n_rates + j]
  redis.call('ZADD', key, now + ttl, lease)
  -- The set lives until its latest lease expires: a short lease must not cut a long one.
  local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', key, tonumber(latest[2]) + 60000)
end
return {1, 0, ''}
"""


# KEYS: slot keys...; ARGV: lease, ttl_ms. Moves the lease's expiry where it is held.
_EXTEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[2])
for i = 1, #KEYS do
  if redis.call('ZSCORE', KEYS[i], ARGV[1]) then
    redis.call('ZADD', KEYS[i], until_ms, ARGV[1])
    local latest = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', KEYS[i], tonumber(latest[2]) + 60000)
  end
end
return 1
"""


@dataclass(frozen=True)
class Grant:
    granted: bool
    wait_ms: int
    blocked_by: str

    @property
    def held_elsewhere(self) -> bool:
        """Another job holds this attempt's lease: it is handling the contact."""
        return self.blocked_by == "held"


class Limiter:
    """Thin I/O around the script; what to limit comes from :mod:`limit_plan`."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, slot_poll_ms: int = 100) -> None:
        self._redis = redis
        self._keys = keys
        self._slot_poll_ms = slot_poll_ms
        self._acquire = redis.register_script(_ACQUIRE)
        self._extend = redis.register_script(_EXTEND)

    async def acquire(self, plan: LimitPlan, lease: str = "", lease_ttl_ms: int = 0) -> Grant:
        keys = [self._keys.cooldown]
        keys += [self._keys.rate(rate.name) for rate in plan.rates]
        keys += [self._keys.slots(slot.name) for slot in plan.slots]
        args: list[str | int] = [
            len(plan.rates),
            len(plan.slots),
            lease,
            lease_ttl_ms,
            self._slot_poll_ms,
        ]
        for rate in plan.rates:
            args += [rate.interval_ms, rate.burst]
        args += [slot.limit for slot in plan.slots]
        granted, wait_ms, blocked = await self._acquire(keys=keys, args=args)
        blocked_name = blocked.decode() if isinstance(blocked, bytes) else str(blocked)
        return Grant(bool(granted), int(wait_ms), blocked_name)

    async def extend(self, slot_names: tuple[str, ...], lease: str, ttl_ms: int) -> None:
        """Keep a held lease for ``ttl_ms`` from now (on Redis's clock)."""
        keys = [self._keys.slots(name) for name in slot_names]
        await self._extend(keys=keys, args=[lease, ttl_ms])

    async def release(self, slot_names: tuple[str, ...], lease: str) -> None:
        await self.release_many([(slot_names, lease)])

    async def release_many(self, leases: list[tuple[tuple[str, ...], str]]) -> None:
        """Release several leases in one round trip (a batch of outcomes ends many calls)."""
        by_slot: dict[str, list[str]] = {}
        for slot_names, lease in leases:
            for name in slot_names:
                by_slot.setdefault(name, []).append(lease)
        if not by_slot:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, members in by_slot.items():
                pipe.zrem(self._keys.slots(name), *members)
            await pipe.execute()

    async def cool_down(self, seconds: float) -> None:
        """Make the whole fleet wait (a 429 is back-pressure): never shortens a cooldown."""
        ms = max(1, int(seconds * 1000))
        current = await self._redis.pttl(self._keys.cooldown)
        if current < ms:
            await self._redis.set(self._keys.cooldown, "1", px=ms)

    async def in_use(self, name: str) -> int:
        """Leases currently held in one slot set (expired ones are not counted)."""
        now_s, now_us = await self._redis.time()
        now_ms = now_s * 1000 + now_us // 1000
        return int(await self._redis.zcount(self._keys.slots(name), now_ms + 1, "+inf"))
