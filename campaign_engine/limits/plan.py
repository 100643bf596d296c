"""Which limits a call start must pass, as plain numbers: the limiter only executes them.

Every start request passes, at once: the API key's ``/calls/*`` request rate, the partner's
concurrent calls, the provider's calls per second and concurrent calls, and the campaign's
pacing and concurrency. Rates become GCRA emission intervals and bursts (see
:func:`spaced`). Vocobase's own window is widened by the arrival-jitter allowance; the
others by a small safety margin.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from campaign_engine.config import LimitSettings

SAFETY_MARGIN = 0.01
# A rate lets this share of a window's allowance go at the same instant (a dial job starts
# its contacts together), never more than MAX_BURST requests, and at least one.
BURST_SHARE = 0.01
MAX_BURST = 100
# The windows of the per-second (provider) and per-minute (campaign) limits, widened.
_SECOND_MS = 1000 * (1 + SAFETY_MARGIN)
_MINUTE_MS = 60_000 * (1 + SAFETY_MARGIN)


@dataclass(frozen=True)
class RateLimit:
    name: str
    interval_ms: int
    burst: int = 1


@dataclass(frozen=True)
class SlotLimit:
    name: str
    limit: int


@dataclass(frozen=True)
class LimitPlan:
    rates: tuple[RateLimit, ...]
    slots: tuple[SlotLimit, ...]

    @property
    def slot_names(self) -> tuple[str, ...]:
        return tuple(slot.name for slot in self.slots)


def spaced(name: str, per_window: float, window_ms: float) -> RateLimit:
    """At most ``per_window`` requests in any ``window_ms`` (already widened), as GCRA.

    A GCRA with interval T and burst b lets through at most ``floor(W / T) + b`` requests
    in any window W, so T is ``W / (per_window - b + 1)``: the burst costs spacing, never
    one request too many. Low limits (under 200 per window, every documented one) get a
    burst of one: requests evenly spaced, the whole allowance usable.
    """
    burst = max(1, min(MAX_BURST, math.floor(per_window * BURST_SHARE)))
    return RateLimit(name, max(1, math.ceil(window_ms / (per_window - burst + 1))), burst)


def vocobase_rate(
    name: str, limits: LimitSettings, share: float = 1.0, factor: float = 1.0
) -> RateLimit:
    """Spacing of ``/calls/*`` requests so that no window of Vocobase's ever holds more than
    its limit, even when requests arrive up to ``rate_jitter_seconds`` unevenly.

    ``share`` is the part of the budget a kind of request may use (reconciliation);
    ``factor`` the part of the limit in force after rate 429s.
    """
    vocobase = limits.vocobase
    per_window = vocobase.calls_per_minute * vocobase.window_seconds / 60 * share * factor
    widened_ms = (vocobase.window_seconds + limits.rate_jitter_seconds) * 1000
    return spaced(name, per_window, widened_ms)


VOCOBASE_CALLS = "vocobase:calls"
VOCOBASE_ACTIVE = "vocobase:active"
RECONCILE = "reconcile"


def provider_key(provider: str) -> str:
    return f"provider:{provider.lower()}"


def campaign_key(campaign_id: str) -> str:
    return f"campaign:{campaign_id}"


def effective_concurrency(
    limits: LimitSettings, learned: int | None, lowered: int | None = None
) -> int:
    """The partner concurrency to respect: the configured number, or what the API said,
    or lower while concurrency 429s say even that is too much.

    With ``"auto"`` and nothing learned yet, the documented default of 5 is assumed. A
    configured number is a cap: the learned value can only lower it.
    """
    configured = limits.vocobase.concurrency
    if configured == "auto":
        limit = learned if learned is not None else 5
    else:
        limit = min(configured, learned) if learned is not None else configured
    return max(1, min(limit, lowered)) if lowered is not None else limit


# After each 429 the matching limit drops a step; with no 429 for ADAPTIVE_MEMORY_SECONDS
# the lowered value is forgotten and the configured limit applies again.
ADAPTIVE_MEMORY_SECONDS = 300
RATE_STEP = 0.8
MIN_RATE_FACTOR = 0.1


def lowered_concurrency(in_force: int) -> int:
    """One less than the concurrency that just drew a 429 (never below one call)."""
    return max(1, in_force - 1)


def lowered_rate_factor(current: float | None) -> float:
    """The request rate, as a share of the configured one, after one more rate 429."""
    return max(MIN_RATE_FACTOR, (current or 1.0) * RATE_STEP)


def start_plan(
    limits: LimitSettings,
    *,
    provider: str,
    campaign_id: str,
    campaign_max_concurrent: int | None,
    campaign_calls_per_minute: int | None,
    vocobase_concurrency: int,
    rate_factor: float = 1.0,
) -> LimitPlan:
    """Everything one ``POST /calls/start`` must pass."""
    rates = [vocobase_rate(VOCOBASE_CALLS, limits, factor=rate_factor)]
    slots = [SlotLimit(VOCOBASE_ACTIVE, vocobase_concurrency)]
    provider_limits = limits.providers.get(provider.lower())
    if provider_limits is not None:
        rates.append(spaced(provider_key(provider), provider_limits.calls_per_second, _SECOND_MS))
        if provider_limits.max_concurrent is not None:
            slots.append(SlotLimit(provider_key(provider), provider_limits.max_concurrent))
    if campaign_calls_per_minute is not None:
        rates.append(spaced(campaign_key(campaign_id), campaign_calls_per_minute, _MINUTE_MS))
    if campaign_max_concurrent is not None:
        slots.append(SlotLimit(campaign_key(campaign_id), campaign_max_concurrent))
    return LimitPlan(tuple(rates), tuple(slots))


def poll_plan(limits: LimitSettings, share: float, rate_factor: float = 1.0) -> LimitPlan:
    """One reconciliation request: a ``/calls/*`` token, within the reconciler's share. With
    the whole budget (``share`` 1: no start can use it) only the shared rate applies — the
    share's own spacing, set while it was smaller, must not hold the polls back."""
    shared = vocobase_rate(VOCOBASE_CALLS, limits, factor=rate_factor)
    if share >= 1:
        return LimitPlan((shared,), ())
    return LimitPlan((shared, vocobase_rate(RECONCILE, limits, share, rate_factor)), ())


def slot_names_for(provider: str, campaign_id: str) -> tuple[str, ...]:
    """Every slot set a call of this provider and campaign may hold a lease in."""
    return (VOCOBASE_ACTIVE, provider_key(provider), campaign_key(campaign_id))
