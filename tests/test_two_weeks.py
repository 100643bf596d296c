"""Issue 15's proof: two simulated weeks of a recurring campaign, in well under a minute.

The scenario and its checks live in ``bench/two_weeks.py`` (the long form is the
``two_weeks`` benchmark); here it runs with one row per zone and day on both databases.
"""

from __future__ import annotations

import pytest

from bench.two_weeks import ZONES, run_two_weeks

pytestmark = pytest.mark.slow


async def test_two_simulated_weeks_call_nobody_outside_their_hours_twice_or_over_their_cap(
    database_url: str,
) -> None:
    result = await run_two_weeks(database_url, days=14, rows_per_zone=1)

    assert result["violations"] == []
    # Every zone was called, and the feed kept coming: every calling day's 5 new rows (the
    # last day, a Sunday, is never pulled) and the one-off campaign's 3.
    assert set(result["calls_by_zone"]) == {zone for zone, _, _ in ZONES.values()}
    assert result["contacts"] == 13 * len(ZONES) + 3
    assert result["calls"] >= result["contacts"] - 3
