"""What retries add: the outcome mix so far, run through the retry policy itself."""

from __future__ import annotations

import pytest

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_outlook import RetryOutlook, retry_outlook
from campaign_engine.campaigns.retry_policy import RetryPolicy, RetryRule


def _policy(max_retries: int, delay: float = 3600.0, **fields: bool) -> RetryPolicy:
    rule = RetryRule(max_retries=max_retries, delay_seconds=delay)
    return RetryPolicy(
        max_attempts=10, rules={Outcome.NO_ANSWER: rule, Outcome.VOICEMAIL: rule}, **fields
    )


def test_before_any_outcome_only_first_attempts_are_counted() -> None:
    assert retry_outlook(_policy(2), {}, 100) == RetryOutlook()
    assert retry_outlook(_policy(2), {}, 100).known is False


def test_the_outcome_mix_through_the_policy_gives_the_attempts_to_expect() -> None:
    always = retry_outlook(_policy(2), {"no_answer": 7}, 100)
    assert always.attempts_per_contact == pytest.approx(3.0)
    assert always.chain_seconds == 7200.0
    half = retry_outlook(_policy(2), {"no_answer": 5, "completed": 5}, 100)
    assert half.attempts_per_contact == pytest.approx(1.75)
    # One contact in four goes through both delays: likely among 100, not among 2.
    assert half.chain_seconds == 7200.0
    assert retry_outlook(_policy(2), {"no_answer": 5, "completed": 5}, 2).chain_seconds == 3600.0


def test_the_policys_own_rules_apply_voicemail_once_and_the_hard_cap() -> None:
    once = retry_outlook(_policy(3, voicemail_once=True), {"voicemail": 1}, 10)
    assert once.attempts_per_contact == pytest.approx(1.0)
    capped = RetryPolicy(max_attempts=2, rules={Outcome.NO_ANSWER: RetryRule(max_retries=5)})
    assert retry_outlook(capped, {"no_answer": 1}, 10).attempts_per_contact == pytest.approx(2.0)


def test_outcomes_the_engine_does_not_know_are_left_out_of_the_mix() -> None:
    found = retry_outlook(_policy(2), {"completed": 3, "something_new": 9}, 10)
    assert found.attempts_per_contact == pytest.approx(1.0)
