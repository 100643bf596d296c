"""Which limit a 429 hit, judged from what the engine knows — never from the answer's words.

Vocobase answers both the request-rate limit and the concurrency limit with 429, and their
``code`` and ``message`` are not documented. What the engine does know:

- Only starting a call can hit the concurrency limit: a 429 on any other ``/calls/*``
  request (a list, a read of one call, the concurrency read) is the request rate.
- How many calls it holds slots for itself (the ``vocobase:active`` leases, the starts
  just refused among them) against the partner concurrency in force: a start refused while
  they filled it was refused for concurrency.
- What ``GET /calls/concurrency`` said when last read (``active`` counts every call of the
  partner's account, other tools' included): a start refused while that showed the
  account full was refused for concurrency.

A start refused with room on both counts hit the request rate. Both limits stay respected
whichever is judged: every 429 cools the fleet down, and the partner's limit is read again.
"""

from __future__ import annotations

from dataclasses import dataclass

from campaign_engine.vocobase.errors import RateLimitKind

START_PATH = "/calls/start"


@dataclass(frozen=True)
class PartnerReading:
    """``GET /calls/concurrency`` as last read: calls active on the account, and its limit."""

    active: int
    limit: int

    @property
    def full(self) -> bool:
        return self.active >= self.limit


def judge_refusal(
    *, path: str, held: int, limit: int, partner: PartnerReading | None = None
) -> RateLimitKind:
    """``"concurrency"`` or ``"rate"`` for one 429 on ``path``; ``held`` is the engine's own
    live calls (refused starts included), ``limit`` the partner concurrency in force."""
    if not path.rstrip("/").endswith(START_PATH):
        return "rate"
    if held >= limit or (partner is not None and partner.full):
        return "concurrency"
    return "rate"
