"""The one clock every decision about "now" reads: windows, caps, retries, daily pulls,
completion, expiry.

:func:`now` reads the current source — the system's UTC clock unless a test, a benchmark
or a dry run has put another in its place with :func:`use` (a context manager). A
:class:`FrozenClock` stands still until told to move (``advance``, ``set``); a
:class:`SteppingClock` moves by a fixed step every time it is read, so code that waits for
time to pass still gets there. ``campaign_engine.db.models.utcnow`` delegates here, so the
engine's code keeps calling that.

Not read through here, on purpose:

- monotonic timers (``time.monotonic``, ``asyncio``'s ``loop.time``) measure how long the
  process itself waited (timeouts, backoff, request pacing): a driven clock must not make
  a real socket wait longer or shorter;
- the rate limiter's ``Redis TIME``: one clock for every process sharing the limits, and
  the limits are about real requests to a real API;
- an HTTP ``Retry-After`` date is compared with the real wall clock, since what it asks
  for is a real wait before the next real request.

The source is process-wide (a plain module attribute, not a context variable): the
scheduler's background tasks must see the clock a benchmark drives, whichever task set it.
Worker processes read their own system clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """The machine's UTC clock (the default)."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"a clock needs an aware datetime, got naive {at.isoformat()}")
    return at.astimezone(UTC)


class FrozenClock:
    """Stands at one moment until moved: ``advance(seconds=...)`` or ``set(at)``."""

    def __init__(self, at: datetime) -> None:
        self._at = _aware(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = _aware(at)

    def advance(self, delta: timedelta | None = None, /, **units: float) -> datetime:
        """Move forward by ``delta`` or by keyword units (``minutes=5``); the new moment."""
        step = delta if delta is not None else timedelta(**units)
        if step < timedelta(0):
            raise ValueError(f"a clock only moves forward, not by {step}")
        self._at += step
        return self._at


class SteppingClock(FrozenClock):
    """Moves forward by ``step`` after each reading (the first reading is ``at``)."""

    def __init__(self, at: datetime, step: timedelta) -> None:
        super().__init__(at)
        if step <= timedelta(0):
            raise ValueError(f"a stepping clock needs a positive step, not {step}")
        self.step = step

    def now(self) -> datetime:
        current = self._at
        self._at += self.step
        return current


_SYSTEM = SystemClock()
_source: Clock = _SYSTEM


def now() -> datetime:
    """The current moment, aware and in UTC, from the current source."""
    return _source.now()


def current() -> Clock:
    return _source


@contextmanager
def use(clock: Clock) -> Iterator[Clock]:
    """Read ``clock`` inside the block; the previous source comes back after it."""
    global _source
    previous, _source = _source, clock
    try:
        yield clock
    finally:
        _source = previous
