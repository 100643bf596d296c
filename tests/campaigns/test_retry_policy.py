"""Retry by outcome: a budget per class, one hard cap, and delays with bounded jitter."""

from __future__ import annotations

import random

import pytest

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import (
    RETRYABLE,
    RetryPolicy,
    RetryRule,
    decide,
    policy_explains,
)
from campaign_engine.states import ContactState

OC = Outcome


def rng() -> random.Random:
    return random.Random(1)


def policy(max_attempts: int = 10, **rules: RetryRule) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, rules={Outcome(k): v for k, v in rules.items()})


def fixed(max_retries: int, delay: float = 60.0) -> RetryRule:
    return RetryRule(max_retries=max_retries, delay_seconds=delay)


@pytest.mark.parametrize(
    "history",
    [[OC.COMPLETED], [OC.BUSY, OC.COMPLETED], [OC.NO_ANSWER, OC.NO_ANSWER, OC.COMPLETED]],
)
def test_a_completed_conversation_is_final_and_never_retried(history: list[Outcome]) -> None:
    decision = decide(RetryPolicy(), history, rng())
    assert decision.final_state is ContactState.COMPLETED
    assert not decision.retry
    assert decision.delay_seconds is None


def test_busy_retries_do_not_use_the_no_answer_budget() -> None:
    rules = policy(busy=fixed(3), no_answer=fixed(1))
    assert decide(rules, [OC.BUSY, OC.BUSY, OC.BUSY, OC.NO_ANSWER], rng()).retry
    assert decide(rules, [OC.NO_ANSWER, OC.BUSY, OC.BUSY, OC.BUSY], rng()).retry


def test_a_class_is_exhausted_once_its_own_budget_is_used() -> None:
    rules = policy(busy=fixed(3), no_answer=fixed(1))
    decision = decide(rules, [OC.BUSY, OC.NO_ANSWER, OC.NO_ANSWER], rng())
    assert decision.final_state is ContactState.EXHAUSTED
    assert "no_answer: 1 retries used" in decision.reason


def test_the_reason_counts_the_retry_within_its_class() -> None:
    rules = policy(busy=fixed(3), no_answer=fixed(2))
    decision = decide(rules, [OC.NO_ANSWER, OC.BUSY, OC.BUSY], rng())
    assert decision.retry
    assert decision.reason == "busy: retry 2 of 3"


def test_max_attempts_is_a_hard_cap_over_every_class() -> None:
    rules = policy(max_attempts=3, busy=fixed(5), no_answer=fixed(5))
    assert decide(rules, [OC.BUSY, OC.NO_ANSWER], rng()).retry
    decision = decide(rules, [OC.BUSY, OC.NO_ANSWER, OC.BUSY], rng())
    assert decision.final_state is ContactState.EXHAUSTED
    assert "hard cap" in decision.reason


@pytest.mark.parametrize("outcome", [OC.CANCELED, OC.UNKNOWN])
def test_classes_the_policy_never_retries_end_exhausted(outcome: Outcome) -> None:
    decision = decide(RetryPolicy(), [outcome], rng())
    assert decision.final_state is ContactState.EXHAUSTED


def test_a_rule_with_retry_off_or_a_class_without_a_rule_ends_exhausted() -> None:
    rules = policy(busy=RetryRule(retry=False))
    assert decide(rules, [OC.BUSY], rng()).final_state is ContactState.EXHAUSTED
    assert decide(rules, [OC.NO_ANSWER], rng()).final_state is ContactState.EXHAUSTED


@pytest.mark.parametrize("outcome", [OC.REJECTED, OC.BLOCKED])
def test_rejected_or_blocked_numbers_fail_without_retry(outcome: Outcome) -> None:
    decision = decide(RetryPolicy(), [OC.BUSY, outcome], rng())
    assert decision.final_state is ContactState.FAILED


def test_the_default_policy_retries_every_retryable_class_at_least_once() -> None:
    default = RetryPolicy()
    for outcome in RETRYABLE:
        decision = decide(default, [outcome], rng())
        assert decision.retry, outcome
        assert decision.delay_seconds is not None and decision.delay_seconds > 0


def test_exponential_delay_multiplies_per_retry_of_the_class_up_to_the_cap() -> None:
    rule = RetryRule(
        max_retries=5, delay_seconds=60, backoff="exponential", multiplier=3, max_delay_seconds=1000
    )
    rules = policy(failed=rule, busy=fixed(5, delay=1))
    delays = [decide(rules, [OC.FAILED] * count, rng()).delay_seconds for count in range(1, 5)]
    assert delays == [60, 180, 540, 1000]
    # Another class's attempts in between do not advance the failed backoff.
    assert decide(rules, [OC.BUSY, OC.BUSY, OC.FAILED], rng()).delay_seconds == 60


def test_fixed_delay_stays_the_same_for_every_retry() -> None:
    rule = fixed(5, delay=90)
    assert [rule.delay_for(n, rng()) for n in (1, 2, 3)] == [90, 90, 90]


def test_jitter_keeps_the_delay_within_its_fraction_and_spreads_it() -> None:
    rule = RetryRule(delay_seconds=1000, jitter=0.1)
    source = random.Random(42)
    delays = [rule.delay_for(1, source) for _ in range(500)]
    assert all(900 <= delay <= 1100 for delay in delays)
    assert len(set(delays)) > 100
    assert min(delays) < 950 and max(delays) > 1050


def test_jitter_applies_after_the_max_delay_cap() -> None:
    rule = RetryRule(
        delay_seconds=100,
        backoff="exponential",
        multiplier=10,
        max_delay_seconds=500,
        jitter=0.2,
    )
    source = random.Random(7)
    assert all(400 <= rule.delay_for(4, source) <= 600 for _ in range(200))


def test_the_policy_survives_its_json_round_trip_through_the_campaign_row() -> None:
    original = policy(max_attempts=5, busy=fixed(3, delay=10), failed=RetryRule(jitter=0.3))
    stored = original.model_dump(mode="json")
    assert RetryPolicy.model_validate(stored) == original


QUICK = policy(max_attempts=3, busy=fixed(2), no_answer=fixed(2), failed=fixed(2))


@pytest.mark.parametrize(
    "dialed",
    [
        [OC.COMPLETED],
        [OC.BUSY, OC.COMPLETED],
        [OC.BUSY, OC.NO_ANSWER, OC.FAILED],  # the hard cap ends it
        [OC.BUSY, OC.BUSY, OC.BUSY],
        [OC.CANCELED],
        [OC.NO_ANSWER, OC.REJECTED],
    ],
)
def test_policy_explains_sequences_the_policy_could_have_produced(dialed: list[Outcome]) -> None:
    assert policy_explains(QUICK, dialed)


@pytest.mark.parametrize(
    "dialed",
    [
        [OC.BUSY],  # a retry was due but never made
        [OC.COMPLETED, OC.BUSY],  # dialed again after a completed conversation
        [OC.BUSY, OC.BUSY, OC.BUSY, OC.BUSY],  # past the hard cap
        [OC.REJECTED, OC.COMPLETED],  # dialed again after a permanent failure
        [OC.CANCELED, OC.COMPLETED],
    ],
)
def test_policy_explains_refuses_sequences_the_policy_would_not_produce(
    dialed: list[Outcome],
) -> None:
    assert not policy_explains(QUICK, dialed)


def test_voicemail_once_makes_the_first_voicemail_the_contacts_last_call() -> None:
    """At most one voicemail is ever left: whatever the voicemail budget, and also when the
    voicemail comes after attempts of other classes."""
    once = RetryPolicy(max_attempts=10, voicemail_once=True)
    assert once.rules[OC.VOICEMAIL].max_retries >= 1  # the budget alone would retry it

    for dialed in ([OC.VOICEMAIL], [OC.BUSY, OC.NO_ANSWER, OC.VOICEMAIL]):
        decision = decide(once, dialed, rng())
        assert decision.final_state is ContactState.EXHAUSTED
        assert decision.reason == "voicemail: left once (voicemail_once)"
    assert decide(once, [OC.BUSY], rng()).retry
    assert decide(RetryPolicy(max_attempts=10), [OC.VOICEMAIL], rng()).retry


def test_voicemail_once_is_off_by_default_and_stored_with_the_policy() -> None:
    assert RetryPolicy().voicemail_once is False
    stored = RetryPolicy(voicemail_once=True).model_dump(mode="json")
    assert RetryPolicy.model_validate(stored).voicemail_once is True
    assert RetryPolicy.model_validate({}).voicemail_once is False  # campaigns stored before
