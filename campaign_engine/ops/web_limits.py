"""What the public console refuses before doing any work: too many failed logins from one
address, and bodies larger than it reads.

A body's size is judged from its ``Content-Length`` before a byte is read, and counted
while it is read for a chunked one: the limit bounds memory, not just what is kept.
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime, timedelta
from urllib.parse import parse_qs

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


class LoginThrottle:
    """At most ``limit`` failed logins per address in any minute; then refused until the
    oldest of them is a minute old. Kept in memory: one server process, and a restart only
    forgives."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._failures: dict[str, deque[datetime]] = {}

    def _recent(self, address: str, now: datetime) -> deque[datetime]:
        failures = self._failures.get(address, deque())
        while failures and now - failures[0] >= WINDOW:
            failures.popleft()
        if failures:
            self._failures[address] = failures
        else:
            self._failures.pop(address, None)
        return failures

    def retry_after(self, address: str, now: datetime) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        failures = self._recent(address, now)
        if len(failures) < self.limit:
            return None
        return max(1, math.ceil((failures[0] + WINDOW - now).total_seconds()))

    def failed(self, address: str, now: datetime) -> None:
        self._recent(address, now)
        self._failures.setdefault(address, deque()).append(now)
