"""When a failed notification is tried again, and when it goes dead (no I/O)."""

from __future__ import annotations

from campaign_engine.notifications.backoff import RetrySchedule


def test_the_wait_doubles_after_each_failed_try() -> None:
    schedule = RetrySchedule(max_tries=8, backoff_seconds=10, max_backoff_seconds=10_000)
    assert [schedule.delay_after(tries) for tries in (1, 2, 3, 4)] == [10, 20, 40, 80]


def test_the_wait_never_exceeds_the_cap() -> None:
    schedule = RetrySchedule(max_tries=100, backoff_seconds=10, max_backoff_seconds=3600)
    assert schedule.delay_after(9) == 2560
    assert schedule.delay_after(10) == 3600
    assert schedule.delay_after(5000) == 3600  # no overflow, however many tries


def test_zero_backoff_retries_at_once() -> None:
    schedule = RetrySchedule(max_tries=3, backoff_seconds=0, max_backoff_seconds=3600)
    assert schedule.delay_after(2) == 0


def test_a_notification_goes_dead_only_once_every_try_failed() -> None:
    schedule = RetrySchedule(max_tries=3, backoff_seconds=1, max_backoff_seconds=60)
    assert [schedule.gives_up_after(tries) for tries in (1, 2, 3, 4)] == [
        False,
        False,
        True,
        True,
    ]
