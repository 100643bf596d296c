"""Vocobase's clock offset is learned from the calls we started, however far off it is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaign_engine.dialer.clock_offset import OffsetBounds, Sample, learn_offset

T0 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def sample(at_s: float, latency_s: float, their_offset_s: float, created_after_s: float) -> Sample:
    claimed = T0 + timedelta(seconds=at_s)
    return Sample(
        claimed_at=claimed,
        stored_at=claimed + timedelta(seconds=latency_s),
        created_at=claimed + timedelta(seconds=created_after_s + their_offset_s),
    )


def test_no_sample_teaches_nothing() -> None:
    assert learn_offset([]) is None


def test_a_clock_45_seconds_fast_is_learned_within_the_requests_latency() -> None:
    bounds = learn_offset([sample(0, 0.4, 45, 0.1), sample(10, 0.3, 45, 0.25)])
    assert bounds is not None
    assert timedelta(seconds=44.5) <= bounds.low <= timedelta(seconds=45) <= bounds.high
    assert bounds.high - bounds.low <= timedelta(seconds=0.3)


def test_a_slow_clock_gives_a_negative_offset() -> None:
    bounds = learn_offset([sample(0, 1.0, -90, 0.5)])
    assert bounds == OffsetBounds(timedelta(seconds=-90.5), timedelta(seconds=-89.5))


def test_the_earliest_their_time_of_a_claim_uses_the_low_bound() -> None:
    bounds = OffsetBounds(timedelta(seconds=44), timedelta(seconds=46))
    assert bounds.their_time(T0) == T0 + timedelta(seconds=44)


def test_a_sample_stored_long_after_its_claim_is_left_out() -> None:
    """An attempt whose ids the reconciler stored minutes later says little about clocks."""
    assert learn_offset([sample(0, 600, 45, 1)]) is None


def test_after_the_clock_steps_the_recent_samples_win() -> None:
    bounds = learn_offset([sample(0, 0.2, 0, 0.1), sample(60, 0.2, 30, 0.1)])
    assert bounds is not None
    assert timedelta(seconds=29.8) <= bounds.low <= bounds.high <= timedelta(seconds=30.1)
