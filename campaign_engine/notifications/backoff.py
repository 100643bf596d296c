"""When a failed notification is tried again, and when it is given up (pure)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RetrySchedule:
    max_tries: int
    backoff_seconds: float
    max_backoff_seconds: float

    def delay_after(self, tries: int) -> float:
        """Seconds to wait after the ``tries``-th failed try: doubling, capped.

        Doubling spreads the load while the operator's endpoint is down and still brings
        it back within minutes of a short outage; the cap bounds the wait after a long one.
        """
        exponent = max(tries - 1, 0)
        # Cap the exponent too: 2**large overflows a float long before it matters.
        delay = self.backoff_seconds * float(2 ** min(exponent, 60))
        return min(delay, self.max_backoff_seconds)

    def gives_up_after(self, tries: int) -> bool:
        """True once ``tries`` failed tries used the whole budget: the row goes dead."""
        return tries >= self.max_tries
