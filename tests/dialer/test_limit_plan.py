"""Which limits a start or a poll must pass: plain arithmetic, no I/O."""

from __future__ import annotations

import pytest

from campaign_engine.config import LimitSettings
from campaign_engine.dialer.limit_plan import (
    RECONCILE,
    SAFETY_MARGIN,
    VOCOBASE_ACTIVE,
    VOCOBASE_CALLS,
    RateLimit,
    SlotLimit,
    campaign_key,
    effective_concurrency,
    interval_ms,
    poll_plan,
    provider_key,
    slot_names_for,
    start_plan,
    window_interval_ms,
)

CAMPAIGN = "c-1"


def limits(**sections: object) -> LimitSettings:
    return LimitSettings.model_validate(sections)


@pytest.mark.parametrize(
    ("per_second", "nominal_ms"),
    [(1.0, 1000), (10.0, 100), (2.0, 500), (10 / 60, 6000), (200 / 60, 300), (100.0, 10)],
)
def test_interval_is_the_nominal_spacing_widened_by_the_safety_margin(
    per_second: float, nominal_ms: int
) -> None:
    widened = nominal_ms * (1 + SAFETY_MARGIN)
    assert widened <= interval_ms(per_second) <= widened + 1


def test_interval_never_drops_below_one_millisecond() -> None:
    assert interval_ms(1_000_000) == 1


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
        RateLimit(provider_key("twilio"), interval_ms(1.0)),
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
    assert RateLimit(provider_key("plivo"), interval_ms(2.0)) in plan.rates
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
    assert RateLimit(campaign_key(CAMPAIGN), interval_ms(0.5)) in plan.rates
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
    interval = window_interval_ms(settings.model_copy(update={"rate_jitter_seconds": 0.5}))
    # 10 requests per 15 s: the 11th request lands at least 15.5 s after the first, so
    # even arriving 0.5 s early it is outside that window.
    assert interval * 10 >= 15_500
    # Half the limit in force after rate 429s: twice the spacing (give or take rounding).
    assert window_interval_ms(settings, factor=0.5) >= 2 * window_interval_ms(settings) - 1


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
