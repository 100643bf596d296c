"""Which limits a start or a poll must pass: plain arithmetic, no I/O."""

from __future__ import annotations

import pytest

from campaign_engine.config import LimitSettings
from campaign_engine.limits.plan import (
    RECONCILE,
    SAFETY_MARGIN,
    VOCOBASE_ACTIVE,
    VOCOBASE_CALLS,
    RateLimit,
    SlotLimit,
    campaign_key,
    effective_concurrency,
    poll_plan,
    provider_key,
    slot_names_for,
    spaced,
    start_plan,
    vocobase_rate,
)

CAMPAIGN = "c-1"


def limits(**sections: object) -> LimitSettings:
    return LimitSettings.model_validate(sections)


def second(per_second: float) -> RateLimit:
    """What a provider's calls-per-second limit becomes (named for the test)."""
    return spaced("x", per_second, 1000 * (1 + SAFETY_MARGIN))


@pytest.mark.parametrize(
    ("per_second", "nominal_ms"),
    [(1.0, 1000), (10.0, 100), (2.0, 500), (10 / 60, 6000), (200 / 60, 300), (100.0, 10)],
)
def test_a_low_rate_is_evenly_spaced_at_its_nominal_interval_widened_by_the_margin(
    per_second: float, nominal_ms: int
) -> None:
    widened = nominal_ms * (1 + SAFETY_MARGIN)
    rate = second(per_second)
    assert rate.burst == 1
    assert widened <= rate.interval_ms <= widened + 1


def test_an_interval_never_drops_below_one_millisecond() -> None:
    assert second(1_000_000).interval_ms == 1


@pytest.mark.parametrize("per_window", [1, 10, 99, 100, 199, 200, 650, 1_000, 6_000, 10**7])
def test_a_burst_never_lets_one_request_too_many_into_any_window(per_window: int) -> None:
    """GCRA admits at most floor(W / T) + burst requests in a window W: never over."""
    window_ms = 60_250
    rate = spaced("x", per_window, window_ms)
    most_in_a_window = -(-60_000 // rate.interval_ms) - 1 + rate.burst  # W < window_ms
    assert most_in_a_window <= per_window
    assert 1 <= rate.burst <= max(1, per_window // 100)


def test_a_high_rate_lets_one_percent_of_its_window_go_at_once_at_most_a_hundred() -> None:
    assert spaced("x", 6_000, 60_250).burst == 60
    assert spaced("x", 10**7, 60_250).burst == 100
    assert spaced("x", 199, 60_250).burst == 1


def test_start_plan_for_provider_without_max_concurrent_has_its_rate_but_no_slot() -> None:
    plan = start_plan(
        limits(vocobase={"calls_per_minute": 10}),
        provider="twilio",
        campaign_id=CAMPAIGN,
        campaign_max_concurrent=None,
        campaign_calls_per_minute=None,
        vocobase_concurrency=5,
    )
    assert plan.rates == (
        # 10 per 60 s window, widened by the default 0.25 s jitter allowance.
        RateLimit(VOCOBASE_CALLS, 6025),
        RateLimit(provider_key("twilio"), second(1.0).interval_ms),
    )
    assert plan.slots == (SlotLimit(VOCOBASE_ACTIVE, 5),)
    assert all(rate.burst == 1 for rate in plan.rates)


def test_start_plan_for_provider_with_max_concurrent_adds_its_slot() -> None:
    plan = start_plan(
        limits(providers={"plivo": {"calls_per_second": 2.0, "max_concurrent": 3}}),
        provider="PLIVO",
        campaign_id=CAMPAIGN,
        campaign_max_concurrent=None,
        campaign_calls_per_minute=None,
        vocobase_concurrency=7,
    )
    assert RateLimit(provider_key("plivo"), second(2.0).interval_ms) in plan.rates
    assert plan.slots == (SlotLimit(VOCOBASE_ACTIVE, 7), SlotLimit("provider:plivo", 3))


def test_start_plan_adds_campaign_pacing_and_campaign_concurrency_when_set() -> None:
    plan = start_plan(
        limits(),
        provider="mcube",
        campaign_id=CAMPAIGN,
        campaign_max_concurrent=2,
        campaign_calls_per_minute=30,
        vocobase_concurrency=5,
    )
    assert RateLimit(campaign_key(CAMPAIGN), 2020) in plan.rates  # 30/min, widened 1%
    assert SlotLimit(campaign_key(CAMPAIGN), 2) in plan.slots
    assert plan.slot_names == (VOCOBASE_ACTIVE, campaign_key(CAMPAIGN))


def test_every_slot_a_start_can_take_is_among_the_slot_names_released_for_it() -> None:
    plan = start_plan(
        limits(providers={"sip": {"calls_per_second": 5, "max_concurrent": 1}}),
        provider="sip",
        campaign_id=CAMPAIGN,
        campaign_max_concurrent=4,
        campaign_calls_per_minute=None,
        vocobase_concurrency=5,
    )
    assert set(plan.slot_names) <= set(slot_names_for("sip", CAMPAIGN))


def test_vocobase_window_is_widened_by_the_jitter_allowance_so_no_window_can_overfill() -> None:
    settings = limits(vocobase={"calls_per_minute": 40, "window_seconds": 15})
    jittery = settings.model_copy(update={"rate_jitter_seconds": 0.5})
    interval = vocobase_rate(VOCOBASE_CALLS, jittery).interval_ms
    # 10 requests per 15 s: the 11th request lands at least 15.5 s after the first, so
    # even arriving 0.5 s early it is outside that window.
    assert interval * 10 >= 15_500
    # Half the limit in force after rate 429s: twice the spacing (give or take rounding).
    halved = vocobase_rate(VOCOBASE_CALLS, settings, factor=0.5).interval_ms
    assert halved >= 2 * vocobase_rate(VOCOBASE_CALLS, settings).interval_ms - 1


def test_poll_plan_takes_a_calls_token_within_the_reconcilers_share_and_no_slot() -> None:
    plan = poll_plan(limits(vocobase={"calls_per_minute": 60}), share=0.25)
    assert plan.rates == (
        RateLimit(VOCOBASE_CALLS, 1005),
        RateLimit(RECONCILE, 4017),
    )
    assert plan.slots == ()


@pytest.mark.parametrize(
    ("configured", "learned", "expected"),
    [
        ("auto", None, 5),
        ("auto", 3, 3),
        ("auto", 12, 12),
        (4, None, 4),
        (4, 2, 2),
        (4, 10, 4),
    ],
)
def test_effective_concurrency_is_auto_learned_or_the_configured_number_capped_by_learned(
    configured: int | str, learned: int | None, expected: int
) -> None:
    settings = limits(vocobase={"concurrency": configured})
    assert effective_concurrency(settings, learned) == expected


def test_a_poll_with_the_whole_budget_passes_only_the_shared_rate() -> None:
    """While every slot is taken polls may use the whole budget: the share's own (slower)
    spacing, set while it was smaller, must not hold them back."""
    limits = LimitSettings()
    assert [rate.name for rate in poll_plan(limits, 1.0).rates] == [VOCOBASE_CALLS]
    assert [rate.name for rate in poll_plan(limits, 0.2).rates] == [VOCOBASE_CALLS, RECONCILE]
