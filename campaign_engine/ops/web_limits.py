"""What the public console refuses before doing any work: too many failed logins from one
address (counted in Redis, across every server process), and bodies larger than it reads.

A body's size is judged from its ``Content-Length`` before a byte is read, and counted
while it is read for a chunked one: the limit bounds memory, not just what is kept.
"""

from __future__ import annotations

import math
import secrets
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

from redis.asyncio import Redis
from starlette.requests import Request

WINDOW = timedelta(minutes=1)


class BodyTooLarge(ValueError):
    """The request body is over the limit (413); nothing more of it is read."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit} bytes")
        self.limit = limit


def declared_too_large(request: Request, limit: int) -> bool:
    """Whether the request says its body is over ``limit`` (a bad length counts as over)."""
    length = request.headers.get("content-length")
    if length is None:
        return False
    try:
        return int(length) > limit
    except ValueError:
        return True


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, if it is at most ``limit`` bytes; else BodyTooLarge, having read at
    most one chunk past the limit."""
    if declared_too_large(request, limit):
        raise BodyTooLarge(limit)
    parts: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        parts.append(chunk)
    return b"".join(parts)


def parse_form(body: bytes) -> dict[str, str]:
    """An urlencoded form: the last value of each field."""
    parsed = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True)
    return {key: values[-1] for key, values in parsed.items()}


def login_wait(failures: list[datetime], now: datetime, limit: int) -> int | None:
    """Seconds until an address whose failed logins were at ``failures`` may try again
    (at most ``limit`` in any minute: refused until the oldest of the last minute's is a
    minute old), or None when it may now."""
    recent = sorted(at for at in failures if now - at < WINDOW)
    if len(recent) < limit:
        return None
    return max(1, math.ceil((recent[-limit] + WINDOW - now).total_seconds()))


class LoginThrottle:
    """Failed logins per client address, kept in Redis so that every ``serve`` process (on
    every host) counts the same tries: one sorted set per address (the failures' times),
    expiring a minute after its newest failure."""

    def __init__(self, redis: Redis, prefix: str, limit: int) -> None:
        self.redis, self.prefix, self.limit = redis, prefix, limit

    def _key(self, address: str) -> str:
        return f"{self.prefix}:console:login-failures:{address}"

    async def retry_after(self, address: str, now: datetime) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        found = await self.redis.zrange(self._key(address), 0, -1, withscores=True)
        failures = [datetime.fromtimestamp(score, UTC) for _, score in found]
        return login_wait(failures, now, self.limit)

    async def failed(self, address: str, now: datetime) -> None:
        key, stamp = self._key(address), now.timestamp()
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", stamp - WINDOW.total_seconds())
            pipe.zadd(key, {f"{stamp}:{secrets.token_hex(4)}": stamp})
            pipe.expire(key, int(WINDOW.total_seconds()) + 1)
            await pipe.execute()
