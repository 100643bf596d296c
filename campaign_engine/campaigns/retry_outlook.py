"""What retries will add to a campaign: the outcome mix seen so far, run through the
retry policy's own :func:`~campaign_engine.campaigns.retry_policy.decide`.

Every sequence of outcomes (each attempt drawn from the mix seen so far) is followed as
the policy would follow it, so budgets per outcome class, the hard cap and
``voicemail_once`` all count exactly as when the engine decides. A plain function: the
caller reads the counts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy, decide

# Sequences of outcomes rarer than this are left out.
_RARE = 1e-6
_KNOWN = frozenset(outcome.value for outcome in Outcome)


@dataclass(frozen=True)
class RetryOutlook:
    """What retries add: attempts per contact, and the longest likely chain of delays."""

    attempts_per_contact: float = 1.0
    chain_seconds: float = 0.0
    known: bool = False


def retry_outlook(policy: RetryPolicy, outcomes: Mapping[str, int], contacts: int) -> RetryOutlook:
    """Run the outcome mix seen so far through the policy: expected attempts per contact,
    and the delays of the longest chain at least one of ``contacts`` is expected to go
    through. No outcomes seen yet: first attempts only (``known`` False)."""
    mix = {Outcome(name): count for name, count in outcomes.items() if count > 0 and name in _KNOWN}
    total = sum(mix.values())
    if not total:
        return RetryOutlook()
    shares = {outcome: count / total for outcome, count in mix.items()}
    rng = random.Random(0)
    expected, chain = 0.0, 0.0
    likely = 1 / max(contacts, 1)
    paths: list[tuple[list[Outcome], float, float]] = [([], 1.0, 0.0)]
    while paths:
        outcomes_so_far, chance, delays = paths.pop()
        for outcome, share in shares.items():
            seen, odds = [*outcomes_so_far, outcome], chance * share
            if odds < _RARE:
                continue
            expected += odds
            decision = decide(policy, seen, rng)
            if decision.retry:
                waited = delays + (decision.delay_seconds or 0.0)
                paths.append((seen, odds, waited))
                if odds >= likely:
                    chain = max(chain, waited)
    return RetryOutlook(expected, chain, True)
