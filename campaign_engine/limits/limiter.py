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

from campaign_engine.keys import RedisKeys
from campaign_engine.limits.plan import LimitPlan

# KEYS: cooldown, rate keys..., slot keys...
# ARGV: n_rates, n_slots, wanted, lease_ttl_ms, slot_poll_ms, (interval, burst)...,
#       limit..., lease...
# Grants as many of the wanted tokens as every limit has room for right now (the first
# leases in order); returns {granted, wait_ms, blocked_by, held lease...}.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cooling = redis.call('PTTL', KEYS[1])
if cooling > 0 then return {0, cooling, 'cooldown'} end
local n_rates = tonumber(ARGV[1])
local n_slots = tonumber(ARGV[2])
local grant = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local slot_poll = tonumber(ARGV[5])
local first_lease = 6 + 2 * n_rates + n_slots
-- A lease belongs to whoever took it: another job for the same attempt steps aside.
local fresh, held = {}, {}
for i = first_lease, #ARGV do
  local score = false
  if n_slots > 0 then score = redis.call('ZSCORE', KEYS[2 + n_rates], ARGV[i]) end
  if score and tonumber(score) > now then
    held[#held + 1] = ARGV[i]
  else
    fresh[#fresh + 1] = ARGV[i]
  end
end
if #ARGV >= first_lease then
  if #fresh == 0 then return {0, -1, 'held', unpack(held)} end
  grant = #fresh
end
local wait = 0
local blocked = ''
local tats = {}
for i = 1, n_rates do
  local interval = tonumber(ARGV[4 + 2 * i])
  local burst = tonumber(ARGV[5 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[1 + i]) or now)
  if tat < now then tat = now end
  -- GCRA: a token conforms while tat - (burst - 1) * interval <= now.
  local room = math.floor((now - tat) / interval) + burst
  if room < grant then grant = math.max(room, 0) end
  if room < 1 then
    local free_in = tat - (burst - 1) * interval - now
    if free_in > wait then
      wait = free_in
      blocked = KEYS[1 + i]
    end
  end
  tats[i] = {tat, interval}
end
for j = 1, n_slots do
  local key = KEYS[1 + n_rates + j]
  local limit = tonumber(ARGV[5 + 2 * n_rates + j])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local room = limit - redis.call('ZCARD', key)
  if room < grant then grant = math.max(room, 0) end
  if room < 1 and wait < slot_poll then
    wait = slot_poll
    blocked = key
  end
end
if grant < 1 then return {0, math.max(wait, 1), blocked, unpack(held)} end
for i = 1, n_rates do
  local tat = tats[i][1] + grant * tats[i][2]
  redis.call('SET', KEYS[1 + i], tat, 'PX', tat - now + 60000)
end
for j = 1, n_slots do
  local key = KEYS[1 + n_rates + j]
  for k = 1, math.min(grant, #fresh) do
    redis.call('ZADD', key, now + ttl, fresh[k])
  end
  -- The set lives until its latest lease expires: a short lease must not cut a long one.
  local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if latest[2] then redis.call('PEXPIREAT', key, tonumber(latest[2]) + 60000) end
end
return {grant, 0, '', unpack(held)}
"""


# KEYS: slot keys...; ARGV: ttl_ms, mode, lease... Moves each lease's expiry where it is
# held (mode "held"), or puts it there whether or not it is (mode "all": a call known to
# exist occupies its slots, whatever the limit says).
_EXTEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local until_ms = now + tonumber(ARGV[1])
local all = ARGV[2] == 'all'
for i = 1, #KEYS do
  local moved = false
  for j = 3, #ARGV do
    if all or redis.call('ZSCORE', KEYS[i], ARGV[j]) then
      redis.call('ZADD', KEYS[i], until_ms, ARGV[j])
      moved = true
    end
  end
  if moved then
    local latest = redis.call('ZRANGE', KEYS[i], -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', KEYS[i], tonumber(latest[2]) + 60000)
  end
end
return 1
"""

# KEYS: cooldown; ARGV: ms. Only ever lengthens the cooldown, in one step: two workers
# refused at once must not leave the shorter of their waits in force.
_COOL_DOWN = """
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
"""


def lease_name(contact_id: int, attempt_number: int) -> str:
    """The concurrency lease of one attempt: a contact's attempt holds its slots under this
    name from its claim until its call ends, whoever takes or releases them."""
    return f"{contact_id}:{attempt_number}"


@dataclass(frozen=True)
class Grant:
    granted: bool
    wait_ms: int
    blocked_by: str

    @property
    def held_elsewhere(self) -> bool:
        """Another job holds this attempt's lease: it is handling the contact."""
        return self.blocked_by == "held"


@dataclass(frozen=True)
class Grants:
    """What one acquire for several leases gave: the leases granted (the first ones asked
    for, in order), those another job holds, and for the rest the wait before asking again."""

    granted: list[str]
    held: list[str]
    wait_ms: int
    blocked_by: str


# How long a release's wake-up signal waits for a dispatcher to take it.
FREED_SIGNAL_TTL_MS = 60_000


class Limiter:
    """Thin I/O around the script; what to limit comes from :mod:`limit_plan`."""

    def __init__(self, redis: Redis, keys: RedisKeys, *, slot_poll_ms: int = 100) -> None:
        self._redis = redis
        self._keys = keys
        self._slot_poll_ms = slot_poll_ms
        self._acquire = redis.register_script(_ACQUIRE)
        self._extend = redis.register_script(_EXTEND)
        self._cool_down = redis.register_script(_COOL_DOWN)

    async def acquire(self, plan: LimitPlan, lease: str = "", lease_ttl_ms: int = 0) -> Grant:
        """One token of every limit (a poll has no lease; a start holds ``lease``)."""
        grants = await self.acquire_many(plan, [lease] if lease else [], lease_ttl_ms)
        if grants.held:
            return Grant(False, -1, "held")
        return Grant(bool(grants.granted), grants.wait_ms, grants.blocked_by)

    async def acquire_many(
        self, plan: LimitPlan, leases: list[str], lease_ttl_ms: int, *, wanted: int = 1
    ) -> Grants:
        """Take every limit for as many of ``leases`` as they all have room for now (for
        ``wanted`` lease-less tokens when ``leases`` is empty), in one round trip."""
        keys = [self._keys.cooldown]
        keys += [self._keys.rate(rate.name) for rate in plan.rates]
        keys += [self._keys.slots(slot.name) for slot in plan.slots]
        args: list[str | int] = [
            len(plan.rates),
            len(plan.slots),
            len(leases) or wanted,
            lease_ttl_ms,
            self._slot_poll_ms,
        ]
        for rate in plan.rates:
            args += [rate.interval_ms, rate.burst]
        args += [slot.limit for slot in plan.slots]
        args += leases
        granted, wait_ms, blocked, *held_raw = await self._acquire(keys=keys, args=args)
        held = [_text(item) for item in held_raw]
        fresh = [lease for lease in leases if lease not in set(held)]
        count = int(granted)
        return Grants(
            granted=fresh[:count] if leases else [""] * count,
            held=held,
            wait_ms=int(wait_ms),
            blocked_by=_text(blocked),
        )

    async def extend(self, slot_names: tuple[str, ...], lease: str, ttl_ms: int) -> None:
        """Keep a held lease for ``ttl_ms`` from now (on Redis's clock)."""
        await self.extend_many(slot_names, [lease], ttl_ms)

    async def extend_many(
        self, slot_names: tuple[str, ...], leases: list[str], ttl_ms: int
    ) -> None:
        """Keep leases still held: one released meanwhile (the call already ended) stays
        released, so a late start response cannot bring back the slot of a finished call."""
        await self._set_expiry(slot_names, leases, ttl_ms, "held")

    async def hold(self, slot_names: tuple[str, ...], lease: str, ttl_ms: int) -> None:
        """Hold ``lease`` for ``ttl_ms`` from now, taking it again if it expired: for a call
        found to exist after its short start lease ran out (its worker died mid-request)."""
        await self._set_expiry(slot_names, [lease], ttl_ms, "all")

    async def hold_many(self, held: list[tuple[tuple[str, ...], str, int]]) -> None:
        """:meth:`hold` for several leases (slot names, lease, ttl_ms) in one pipeline: the
        scheduler takes back every open attempt's slots after Redis lost them."""
        async with self._redis.pipeline(transaction=False) as pipe:
            for slot_names, lease, ttl_ms in held:
                keys = [self._keys.slots(name) for name in slot_names]
                await self._extend(keys=keys, args=[ttl_ms, "all", lease], client=pipe)
            await pipe.execute()

    async def _set_expiry(
        self, slot_names: tuple[str, ...], leases: list[str], ttl_ms: int, mode: str
    ) -> None:
        if leases:
            keys = [self._keys.slots(name) for name in slot_names]
            await self._extend(keys=keys, args=[ttl_ms, mode, *leases])

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
        freed = self._keys.slots_freed
        async with self._redis.pipeline(transaction=False) as pipe:
            for name, members in by_slot.items():
                pipe.zrem(self._keys.slots(name), *members)
            # Wake the dispatcher (it blocks on this list between rounds): one element is
            # enough, however many leases went, and it goes away if nobody dispatches.
            pipe.lpush(freed, 1)
            pipe.ltrim(freed, 0, 0)
            pipe.pexpire(freed, FREED_SIGNAL_TTL_MS)
            await pipe.execute()

    async def wait_freed(self, timeout_seconds: float) -> bool:
        """Until leases are released (by anyone, since the last call) or ``timeout_seconds``
        pass: whether some were. Blocks one pooled connection meanwhile."""
        # BLPOP takes fractions of a second (Redis >= 6), which the client's typing denies.
        freed = self._keys.slots_freed
        answer = await self._redis.blpop([freed], timeout_seconds)  # type: ignore[arg-type,misc]
        return answer is not None

    async def cool_down(self, seconds: float) -> None:
        """Make the whole fleet wait (a 429 is back-pressure): never shortens a cooldown."""
        ms = max(1, int(seconds * 1000))
        await self._cool_down(keys=[self._keys.cooldown], args=[ms])

    async def in_use(self, name: str) -> int:
        """Leases currently held in one slot set (expired ones are not counted)."""
        now_s, now_us = await self._redis.time()
        now_ms = now_s * 1000 + now_us // 1000
        return int(await self._redis.zcount(self._keys.slots(name), now_ms + 1, "+inf"))


def _text(item: bytes | str | int) -> str:
    return item.decode() if isinstance(item, bytes) else str(item)
