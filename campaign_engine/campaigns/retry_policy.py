"""Retry by outcome: each outcome class has its own budget and delay, under one hard cap.

"Busy" and "carrier error" must not burn the same budget, and a completed conversation is
never retried. :func:`decide` is a plain function of the policy and the contact's outcomes
so far; the caller turns its answer into a database write.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.states import ContactState

RETRYABLE = (
    Outcome.NO_ANSWER,
    Outcome.BUSY,
    Outcome.VOICEMAIL,
    Outcome.FAILED,
    Outcome.USER_HANGUP_NO_SPEECH,
)


class RetryRule(BaseModel):
    """How one outcome class is retried."""

    model_config = ConfigDict(extra="forbid")

    retry: bool = True
    max_retries: int = Field(default=2, ge=0)
    delay_seconds: float = Field(default=3600.0, ge=0)
    backoff: Literal["fixed", "exponential"] = "fixed"
    multiplier: float = Field(default=2.0, ge=1)
    max_delay_seconds: float = Field(default=86400.0, ge=0)
    # +/- this fraction of the delay, so retries of a whole list do not arrive together.
    jitter: float = Field(default=0.0, ge=0, le=1)

    def delay_for(self, retry_number: int, rng: random.Random) -> float:
        """Delay before the ``retry_number``-th retry (1-based) of this class."""
        delay = self.delay_seconds
        if self.backoff == "exponential":
            delay *= self.multiplier ** (retry_number - 1)
        delay = min(delay, self.max_delay_seconds)
        if self.jitter:
            delay *= 1 + rng.uniform(-self.jitter, self.jitter)
        return max(delay, 0.0)


def _default_rules() -> dict[Outcome, RetryRule]:
    return {
        Outcome.NO_ANSWER: RetryRule(max_retries=2, delay_seconds=2 * 3600, jitter=0.1),
        Outcome.BUSY: RetryRule(max_retries=3, delay_seconds=15 * 60, jitter=0.1),
        Outcome.VOICEMAIL: RetryRule(max_retries=1, delay_seconds=4 * 3600, jitter=0.1),
        Outcome.FAILED: RetryRule(
            max_retries=2, delay_seconds=5 * 60, backoff="exponential", jitter=0.1
        ),
        Outcome.USER_HANGUP_NO_SPEECH: RetryRule(max_retries=1, delay_seconds=3600, jitter=0.1),
    }


class RetryPolicy(BaseModel):
    """A campaign's retry settings (stored with the campaign as JSON)."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(default=4, ge=1)
    # Leave a voicemail at most once: the first call that reaches voicemail is the contact's
    # last (exhausted), whatever the voicemail budget says.
    voicemail_once: bool = False
    rules: dict[Outcome, RetryRule] = Field(default_factory=_default_rules)

    def rule_for(self, outcome: Outcome) -> RetryRule | None:
        if outcome not in RETRYABLE:
            return None
        return self.rules.get(outcome)


@dataclass(frozen=True)
class Decision:
    """Either a final contact state, or a retry after ``delay_seconds``."""

    final_state: ContactState | None
    delay_seconds: float | None
    reason: str

    @property
    def retry(self) -> bool:
        return self.final_state is None


def decide(policy: RetryPolicy, outcomes: list[Outcome], rng: random.Random) -> Decision:
    """What to do with a contact whose attempts so far ended with ``outcomes`` (oldest first).

    Only the last outcome picks the rule; the budget of its class is how many earlier
    attempts ended in the same class.
    """
    last = outcomes[-1]
    if last is Outcome.COMPLETED:
        return Decision(ContactState.COMPLETED, None, "conversation completed")
    if last in (Outcome.REJECTED, Outcome.BLOCKED):
        return Decision(ContactState.FAILED, None, f"{last.value}: not retried")
    if last is Outcome.VOICEMAIL and policy.voicemail_once:
        return Decision(ContactState.EXHAUSTED, None, "voicemail: left once (voicemail_once)")
    rule = policy.rule_for(last)
    if rule is None or not rule.retry:
        return Decision(ContactState.EXHAUSTED, None, f"{last.value}: not retried by policy")
    retries_used = outcomes.count(last) - 1
    if retries_used >= rule.max_retries:
        return Decision(
            ContactState.EXHAUSTED, None, f"{last.value}: {rule.max_retries} retries used"
        )
    if len(outcomes) >= policy.max_attempts:
        return Decision(
            ContactState.EXHAUSTED, None, f"{policy.max_attempts} attempts in all (hard cap)"
        )
    delay = rule.delay_for(retries_used + 1, rng)
    return Decision(None, delay, f"{last.value}: retry {retries_used + 1} of {rule.max_retries}")


def policy_explains(policy: RetryPolicy, outcomes: list[Outcome]) -> bool:
    """True when ``outcomes`` is a sequence the policy could have produced, call by call.

    Tests use it against the simulator's ledger: every dial but the last must have been
    followed by a retry decision, and the last by a final one.
    """
    rng = random.Random(0)
    for index in range(1, len(outcomes) + 1):
        decision = decide(policy, outcomes[:index], rng)
        is_last = index == len(outcomes)
        if decision.retry == is_last:
            return False
    return True
