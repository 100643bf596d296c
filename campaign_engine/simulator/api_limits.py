"""The simulator's own enforcement of Vocobase's request-rate and concurrency limits.

Kept apart from the engine's limiter on purpose: the simulator is the referee that proves
the engine stayed inside the limits, so it must not share code with the thing it judges.
Time is passed in, never read, so the arithmetic is testable without sleeping.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

ACTIVE_STATUSES: frozenset[str] = frozenset({"pending", "ringing", "in_progress"})
"""Statuses that hold a concurrency slot, as ``GET /calls/concurrency`` documents them."""

STATUSES_COUNTED: tuple[str, ...] = ("PENDING", "RINGING", "IN_PROGRESS")


class SlidingWindow:
    """Accepted requests over a trailing window; a request counts only once accepted.

    Checking and recording are separate because ``/calls/start`` may still be refused for
    concurrency after passing the rate check, and a refused request must not use budget.
    """

    def __init__(self) -> None:
        self._accepted: deque[float] = deque()

    def _prune(self, now: float, window: float) -> None:
        while self._accepted and self._accepted[0] <= now - window:
            self._accepted.popleft()

    def count(self, now: float, window: float) -> int:
        """Requests accepted in ``(now - window, now]``."""
        self._prune(now, window)
        return len(self._accepted)

    def has_room(self, now: float, limit: int, window: float) -> bool:
        return self.count(now, window) < limit

    def record(self, now: float, window: float) -> int:
        """Count one accepted request; returns how many the window now holds."""
        self._prune(now, window)
        self._accepted.append(now)
        return len(self._accepted)

    def retry_after(self, now: float, window: float) -> float:
        """Seconds until the oldest accepted request leaves the window."""
        self._prune(now, window)
        if not self._accepted:
            return 0.0
        return max(0.0, self._accepted[0] + window - now)

    def clear(self) -> None:
        self._accepted.clear()


def is_active(status: str) -> bool:
    return status in ACTIVE_STATUSES


def concurrency_view(limit: int, active: int) -> dict[str, Any]:
    """The ``data`` of ``GET /calls/concurrency``."""
    return {
        "limit": limit,
        "limit_source": "partner",
        "active": active,
        "remaining": max(0, limit - active),
        "statuses_counted": list(STATUSES_COUNTED),
    }


def retry_after_header(seconds: float) -> str:
    """Whole seconds, rounded up so a client honouring it is never early."""
    return str(max(1, math.ceil(seconds)))
