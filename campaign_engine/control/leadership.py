"""Any number of schedulers may run; one leads. A lease in Redis says who, a fencing token in
the database makes sure work begun under a lease since lost is refused, never done twice.

Why both. The lease is in Redis because failover must be quick and cheap: ``SET`` if absent
with an expiry, renewed by a compare-and-extend script every third of
``scheduler.leader_lease_seconds``; a standby tries to take it every ``lease / 8`` seconds,
so it leads within about a lease of the leader's SIGKILL, and at once after a SIGTERM (the
leader deletes its lease). But a lease alone cannot stop a leader that lost it without
knowing (a long pause, a partition, a flushed Redis) from finishing what it began, so the
database — where that work lands — checks a fencing token: the one-row table
``scheduler_leader`` holds the token of the current leader, and each new leader takes the
next one (``token + 1`` in the database, so it only ever grows, whatever Redis forgets: an
``INCR`` in Redis would start again at 1 after a ``FLUSHALL``). A session-level PostgreSQL
advisory lock held as the leadership itself was not chosen: its holder is one connection,
which a pooled, reconnecting engine would lose or leak silently, and SQLite has none; nor a
lease in a row, whose expiry would depend on the clocks of every scheduler's host.

The fence (:mod:`~campaign_engine.control.fencing`): every transaction a leading scheduler
commits checks, in that transaction, that its token is still the leader's, so a leader that
lost its lease without knowing cannot do its successor's work a second time.

A leader that cannot renew (Redis unreachable, its lease gone or someone else's) stops
leading at once: its token is forgotten, so its next commit is refused without asking the
database, and the scheduler stops ticking (see :meth:`Leadership.hold`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from redis.asyncio import Redis
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.control.fencing import NAME, fenced_sessions, take_next_token
from campaign_engine.db.models import SchedulerLeader, utcnow
from campaign_engine.keys import RedisKeys

log = logging.getLogger(__name__)

# Take the lease when nobody holds it, or extend it when we already do.
_ACQUIRE = """
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""
# Extend the lease only while it is still ours.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def holder_name() -> str:
    """This process as the leader table and the console show it."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LeaderView:
    """Who leads, as the console and ``ops limits`` show it."""

    holder: str | None
    token: int | None
    since: datetime | None
    renewed_at: datetime | None
    # Milliseconds left on the lease in Redis; None when no lease is held (nobody leads).
    lease_ms_left: int | None

    @property
    def leading(self) -> bool:
        return self.lease_ms_left is not None


async def read_leader(
    session: AsyncSession, redis: Redis, keys: RedisKeys, name: str = NAME
) -> LeaderView:
    row = await session.get(SchedulerLeader, name)
    left = int(await redis.pttl(keys.scheduler_lease))
    return LeaderView(
        holder=row.holder if row else None,
        token=row.token if row else None,
        since=row.since if row else None,
        renewed_at=row.renewed_at if row else None,
        lease_ms_left=left if left > 0 else None,
    )


class Leadership:
    """One scheduler's part in the election: take, renew and give back the lease, and the
    fencing token that comes with it."""

    def __init__(
        self,
        redis: Redis,
        keys: RedisKeys,
        sessions: async_sessionmaker[AsyncSession],
        *,
        lease_seconds: float,
        name: str = NAME,
        holder: str | None = None,
    ) -> None:
        self.redis = redis
        self.key = keys.scheduler_lease
        self.sessions = sessions
        self.name = name
        self.holder = holder or holder_name()
        # Unique per instance: a restarted process with the same host and pid is not us.
        self.lease_id = f"{self.holder}:{secrets.token_hex(6)}"
        self.lease_ms = str(max(int(lease_seconds * 1000), 1))
        self.renew_every = lease_seconds / 3
        self.try_every = lease_seconds / 8
        self._token: int | None = None

    @property
    def token(self) -> int | None:
        """The fencing token while this instance leads, else None."""
        return self._token

    @property
    def is_leader(self) -> bool:
        return self._token is not None

    async def acquire(self) -> bool:
        """Take the lease if free (or extend ours) and, when newly taken, the next token;
        whether this instance leads now."""
        if self._token is not None:
            return await self.renew()
        taken = await self.redis.eval(_ACQUIRE, 1, self.key, self.lease_id, self.lease_ms)  # type: ignore[misc]
        if not taken:
            return False
        try:
            token = await take_next_token(
                self.sessions,
                self.name,
                self.holder,
                wait_ms=max(int(self.renew_every * 1000), 1),
            )
        except Exception:
            log.warning("took the scheduler lease but not the fencing token", exc_info=True)
            with contextlib.suppress(Exception):
                await self.redis.eval(_RELEASE, 1, self.key, self.lease_id)  # type: ignore[misc]
            return False
        self._token = token
        log.warning("this scheduler (%s) leads now, fencing token %d", self.holder, token)
        return True

    async def renew(self) -> bool:
        """Extend the lease; when that fails in any way, stop leading at once."""
        if self._token is None:
            return False
        try:
            renewed = await asyncio.wait_for(
                self.redis.eval(_RENEW, 1, self.key, self.lease_id, self.lease_ms),  # type: ignore[arg-type]
                timeout=self.renew_every,
            )
        except Exception as exc:
            self._lose(f"could not renew the lease ({type(exc).__name__}: {exc})")
            return False
        if not renewed:
            self._lose("the lease is gone or someone else's")
            return False
        await self._touch()
        return self._token is not None

    async def release(self) -> None:
        """Stop leading and give the lease back, so that a standby takes over at once."""
        if self._token is None:
            return
        self._token = None
        try:
            await self.redis.eval(_RELEASE, 1, self.key, self.lease_id)  # type: ignore[misc]
            log.warning("this scheduler (%s) gave up the lead", self.holder)
        except Exception as exc:
            log.warning("could not give the scheduler lease back (%s); it expires", exc)

    def fenced(
        self, sessions: async_sessionmaker[AsyncSession]
    ) -> async_sessionmaker[AsyncSession]:
        """A session factory like ``sessions`` whose every transaction is fenced at commit
        by this instance's token (:func:`~campaign_engine.control.fencing.check_token`)."""
        return fenced_sessions(sessions, lambda: self._token, self.name)

    async def hold(
        self, lead: Callable[[asyncio.Event], Coroutine[Any, Any, None]], stopping: asyncio.Event
    ) -> None:
        """Until ``stopping``: try for the lead, and while leading run ``lead(lost)``,
        renewing the lease; ``lost`` is set when the lead ends (lost, or stopping), and
        ``lead`` must then return. The lease is given back on the way out."""
        try:
            while not stopping.is_set():
                try:
                    leading = await self.acquire()
                except Exception as exc:
                    log.warning("could not try for the scheduler lease: %s", exc)
                    leading = False
                if leading:
                    await self._lead_while_renewed(lead, stopping)
                await _wait(stopping, self.try_every)
        finally:
            await self.release()

    async def _lead_while_renewed(
        self, lead: Callable[[asyncio.Event], Coroutine[Any, Any, None]], stopping: asyncio.Event
    ) -> None:
        lost = asyncio.Event()
        task = asyncio.create_task(lead(lost), name="leading")
        try:
            while not task.done():
                await _wait(stopping, self.renew_every)
                if stopping.is_set() or not await self.renew():
                    break
        finally:
            lost.set()
            # Its transactions are refused already; give it the lease's length to wind down.
            done, _ = await asyncio.wait({task}, timeout=int(self.lease_ms) / 1000)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            elif task.exception() is not None:
                log.error("leading stopped: %r", task.exception())

    def _lose(self, why: str) -> None:
        if self._token is not None:
            log.error("this scheduler (%s) stops leading: %s", self.holder, why)
        self._token = None

    async def _touch(self) -> None:
        """Note the renewal in the database (shown by ``ops limits``); finding the token
        changed means someone else leads. A database too slow or away is only logged: the
        lease decides, and the fence guards the writes."""
        token = self._token
        try:
            async with self.sessions() as session, session.begin():
                result = await asyncio.wait_for(
                    session.execute(
                        update(SchedulerLeader)
                        .where(SchedulerLeader.name == self.name, SchedulerLeader.token == token)
                        .values(renewed_at=utcnow())
                    ),
                    timeout=self.renew_every / 2,
                )
        except Exception as exc:
            log.warning("could not note the scheduler lease's renewal: %s", exc)
            return
        if getattr(result, "rowcount", 1) == 0:
            self._lose("another scheduler took the fencing token")


async def _wait(event_: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event_.wait(), timeout=seconds)
