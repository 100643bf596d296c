"""Which limit a 429 hit is judged from the engine's own counts, never from its wording."""

from __future__ import annotations

import pytest

from campaign_engine.limits.which_limit import PartnerReading, judge_refusal


@pytest.mark.parametrize("path", ["/calls", "/calls/abc", "/calls/concurrency", "/agent/x"])
def test_a_429_on_anything_but_a_start_is_the_request_rate(path: str) -> None:
    """Only starting a call can hit the concurrency limit, however full the account is."""
    full = PartnerReading(active=5, limit=5)
    assert judge_refusal(path=path, held=5, limit=5, partner=full) == "rate"


def test_a_start_refused_while_the_engines_own_calls_fill_the_limit_is_concurrency() -> None:
    assert judge_refusal(path="/calls/start", held=5, limit=5) == "concurrency"
    assert judge_refusal(path="/calls/start", held=7, limit=5) == "concurrency"


def test_a_start_refused_with_room_on_every_count_is_the_request_rate() -> None:
    roomy = PartnerReading(active=2, limit=5)
    assert judge_refusal(path="/calls/start", held=2, limit=5) == "rate"
    assert judge_refusal(path="/calls/start", held=2, limit=5, partner=roomy) == "rate"


def test_a_start_refused_while_other_tools_fill_the_account_is_concurrency() -> None:
    """``active`` counts the partner's every call: ours may be few while the account is full."""
    full = PartnerReading(active=5, limit=5)
    assert judge_refusal(path="/calls/start", held=1, limit=5, partner=full) == "concurrency"
