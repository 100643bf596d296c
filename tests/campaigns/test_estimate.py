"""The finish estimate: the binding limit, each zone's windows, and the retries to expect."""

from __future__ import annotations

from datetime import timedelta

import pytest

from campaign_engine.campaigns.estimate import (
    Group,
    Pace,
    call_seconds,
    estimate,
    pace_of,
    plan_starts,
)
from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_outlook import RetryOutlook, retry_outlook
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.campaigns.window_check import ContactCalendar
from campaign_engine.config import LimitSettings
from tests.campaigns.support import KOLKATA, MONDAY, NEW_YORK, utc

LIMITS = LimitSettings.model_validate({"vocobase": {"calls_per_minute": 120}})
TEN_MINUTES = (600.0, "the agent's maximum call length")
NINE_TO_EIGHT = parse_schedule({"windows": ["09:00-20:00"]})


def pace(
    *, provider: str = "mcube", per_minute: int | None = None, at_once: int | None = 5
) -> Pace:
    return pace_of(
        LIMITS,
        provider=provider,
        calls_per_minute=per_minute,
        max_concurrent=None,
        partner_concurrency=at_once,
        length=TEN_MINUTES,
    )


def anytime(contacts: int) -> list[Group]:
    return [Group("UTC", contacts, None, MONDAY)]


def test_concurrency_times_the_call_length_binds_long_calls() -> None:
    """Issue 16: 302 calls of up to 10 minutes, 5 at once, are not done in 2.5 minutes."""
    found = estimate(anytime(302), pace(), RetryOutlook(), MONDAY)
    assert found.binding == "concurrency"
    assert found.finish == MONDAY + timedelta(seconds=302 / 5 * 600)
    assert found.description.startswith("limited by concurrency 5 and ~10 min calls")
    assert found.starts_per_hour == 30.0


def test_the_slowest_rate_binds_short_calls_and_is_named() -> None:
    limits = pace(per_minute=6, at_once=100)
    found = estimate(anytime(61), limits, RetryOutlook(known=True), MONDAY)
    assert found.binding == "rate"
    assert found.description == "limited by the campaign's pacing of 6 calls/min"
    # 61 starts 10.1 s apart (the limiter's 1% margin): the last at +606 s, a call later done.
    assert found.finish == MONDAY + timedelta(seconds=606 + 600)
    twilio = pace(provider="twilio", at_once=None)
    assert twilio.binding == "rate"
    assert twilio.describe() == "limited by twilio's 1 calls/s"


def test_contacts_waiting_for_their_morning_move_the_finish_and_say_when_they_start() -> None:
    """Issue 16: 519 US contacts parked until their morning made a 17-minute ETA wrong."""
    calendar = ContactCalendar(NINE_TO_EIGHT, NEW_YORK)
    # Monday 00:00 UTC is Sunday 20:00 in New York: the window opens Monday 13:00 UTC.
    found = estimate(
        [Group("America/New_York", 519, calendar, MONDAY)], pace(), RetryOutlook(), MONDAY
    )
    opens = utc(2030, 6, 3, 13)
    assert found.binding == "windows"
    assert found.finish is not None and found.finish > opens
    assert "America/New_York contacts start at Mon 09:00 their time" in found.description
    assert found.description.endswith("retries not counted until calls end")


def test_zones_share_the_pace_and_the_window_closing_first_is_served_first() -> None:
    india = ContactCalendar(NINE_TO_EIGHT, KOLKATA)  # 03:30-14:30 UTC
    york = ContactCalendar(NINE_TO_EIGHT, NEW_YORK)  # 13:00-24:00 UTC
    groups = [
        Group("America/New_York", 60, york, MONDAY),
        Group("Asia/Calcutta", 60, india, MONDAY),
    ]
    at_noon = utc(2030, 6, 3, 13, 30)
    limits = pace(per_minute=1, at_once=None)  # one start a minute
    estimate(groups, limits, RetryOutlook(known=True), at_noon)
    # The groups passed in are left as they were (the estimate plans on copies).
    assert all(group.served == [] for group in groups)
    last = plan_starts(groups, 1 / 60, at_noon, at_noon + timedelta(days=1))
    york_group, india_group = groups
    # India's window closes at 14:30 UTC: its 60 go first, New York's after.
    assert india_group.served[0][0] == at_noon
    assert york_group.served[0][0] == at_noon + timedelta(hours=1)
    assert last == at_noon + timedelta(hours=2)


def test_no_allowed_time_within_the_horizon_gives_no_finish() -> None:
    ended = parse_schedule({"end": "2030-06-01"})
    calendar = ContactCalendar(ended, KOLKATA)
    found = estimate([Group("Asia/Calcutta", 3, calendar, MONDAY)], pace(), RetryOutlook(), MONDAY)
    assert (found.finish, found.binding) == (None, "windows")


def test_the_call_length_is_learned_from_five_ended_calls_and_not_before() -> None:
    assert call_seconds([100.0] * 4, 600) == (600.0, "the agent's maximum call length")
    assert call_seconds([100.0, 200.0, 300.0, 400.0, 500.0], 600) == (300.0, "5 ended calls")


def _policy(max_retries: int, delay: float = 3600.0) -> RetryPolicy:
    rule = RetryRule(max_retries=max_retries, delay_seconds=delay)
    return RetryPolicy(max_attempts=10, rules={Outcome.NO_ANSWER: rule})


def test_retry_delays_longer_than_the_work_bind_the_finish() -> None:
    outlook = retry_outlook(_policy(1, delay=6 * 3600), {"no_answer": 1, "completed": 1}, 10)
    found = estimate(anytime(10), pace(at_once=50), outlook, MONDAY)
    assert found.binding == "retries"
    assert found.calls == pytest.approx(15.0)
    assert found.finish is not None and found.finish >= MONDAY + timedelta(hours=6)
    assert "retry delays of up to 6 h per contact" in found.description


def test_vocobases_rate_leaves_the_reconcilers_share_and_the_jitter_allowance() -> None:
    """The limiter spreads 120 a minute over 60.25 s, and polls may take a fifth of it."""
    limits = pace_of(
        LIMITS,
        provider="mcube",
        calls_per_minute=None,
        max_concurrent=None,
        partner_concurrency=None,
        length=TEN_MINUTES,
        polling_share=0.2,
    )
    assert limits.binding == "rate"
    assert limits.describe() == "limited by Vocobase's 120 calls/min"
    assert limits.per_second == pytest.approx(120 / 60.25 * 0.8)
