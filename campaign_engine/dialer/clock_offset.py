"""How far Vocobase's clock is from ours, learned from the API's own timestamps (pure).

Every call we started tells us something: Vocobase created it (``created_at``, its clock)
after we claimed the attempt and before we stored its answer (both on our clock). So the
offset (their clock minus ours) lies within ``[created_at - stored_at, created_at -
claimed_at]``; every such call narrows the interval. Judging whether a listed call was
created after an attempt's claim then compares like with like, however far apart the
clocks are — no fixed allowance (a clock 45 s fast once broke a 30 s one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class OffsetBounds:
    """Vocobase's clock minus ours lies within ``[low, high]``."""

    low: timedelta
    high: timedelta

    def their_time(self, ours: datetime) -> datetime:
        """The earliest moment on Vocobase's clock that ``ours`` can be."""
        return ours + self.low


@dataclass(frozen=True)
class Sample:
    """One call of ours: claimed and stored on our clock, created on Vocobase's."""

    claimed_at: datetime
    stored_at: datetime
    created_at: datetime


# A request's own latency is part of every sample; more than this apart means a bad sample
# (a stored_at long after the answer, e.g. set by the reconciler), which is left out.
MAX_SAMPLE_SPAN = timedelta(seconds=120)


def learn_offset(samples: Iterable[Sample]) -> OffsetBounds | None:
    """The tightest bounds all usable samples agree on; None without any. When samples
    disagree (a clock stepped), the most recent ones are trusted: bounds are widened to
    cover them rather than left empty."""
    low: timedelta | None = None
    high: timedelta | None = None
    for sample in sorted(samples, key=lambda s: s.claimed_at):
        if not timedelta(0) <= sample.stored_at - sample.claimed_at <= MAX_SAMPLE_SPAN:
            continue
        s_low = sample.created_at - sample.stored_at
        s_high = sample.created_at - sample.claimed_at
        if low is None or high is None:
            low, high = s_low, s_high
            continue
        new_low, new_high = max(low, s_low), min(high, s_high)
        if new_low > new_high:  # the clocks moved: start again from this sample
            new_low, new_high = s_low, s_high
        low, high = new_low, new_high
    if low is None or high is None:
        return None
    return OffsetBounds(low, high)
