"""The console's inline SVG charts: calls per minute and outcomes per ten minutes."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from campaign_engine.db.models import utcnow
from campaign_engine.ops.web_charts import (
    COLOURS,
    HEIGHT,
    OTHER,
    WIDTH,
    attempts_since,
    calls_per_minute,
    outcomes_over_time,
)
from campaign_engine.runtime import Runtime
from tests.ops import seed

RECT = re.compile(
    r'<rect x="(?P<x>[\d.]+)" y="(?P<y>[\d.]+)" width="(?P<w>[\d.]+)" '
    r'height="(?P<h>[\d.]+)" fill="(?P<fill>#[0-9a-f]+)"><title>(?P<title>[^<]*)</title></rect>'
)


Row = tuple[datetime, str | None]


def rects(svg: str) -> list[dict[str, str]]:
    return [match.groupdict() for match in RECT.finditer(svg)]


def ago(minutes: float) -> datetime:
    return utcnow() - timedelta(minutes=minutes)


def test_calls_per_minute_with_no_calls_draws_no_bars_and_a_peak_of_zero() -> None:
    svg = calls_per_minute([])
    assert rects(svg) == []
    assert "calls per minute, last 60 min (peak 0)" in svg
    assert f'viewBox="0 0 {WIDTH} {HEIGHT}"' in svg
    assert svg.startswith("<figure>") and svg.endswith("</figure>")


def test_calls_per_minute_draws_one_bar_per_busy_minute_scaled_to_the_peak() -> None:
    rows: list[Row] = [(ago(0.5), "completed")] * 4 + [(ago(10.5), None)] * 2
    bars = rects(calls_per_minute(rows))
    assert [bar["title"] for bar in bars] == ["2 calls", "4 calls"]  # oldest minute first
    assert [float(bar["h"]) for bar in bars] == [HEIGHT / 2, HEIGHT]
    assert [float(bar["y"]) for bar in bars] == [HEIGHT / 2, 0.0]
    assert float(bars[0]["x"]) < float(bars[1]["x"])
    assert {bar["fill"] for bar in bars} == {"#1565c0"}


def test_calls_per_minute_places_a_bar_by_its_minute_in_the_window() -> None:
    [bar] = rects(calls_per_minute([(ago(59.5), None)], minutes=60))
    assert float(bar["x"]) == 0.0
    assert float(bar["w"]) == round(WIDTH / 60 * 0.9, 1)


def test_calls_older_than_the_window_are_left_out_of_bars_and_peak() -> None:
    old: Row = (ago(61), None)
    rows = [old] * 5 + [(ago(1.5), None)]
    svg = calls_per_minute(rows)
    assert "(peak 1)" in svg
    assert [bar["title"] for bar in rects(svg)] == ["1 calls"]


def test_calls_per_minute_takes_a_shorter_window() -> None:
    svg = calls_per_minute([(ago(3), None), (ago(20), None)], minutes=10)
    assert "last 10 min (peak 1)" in svg
    assert len(rects(svg)) == 1


def test_outcomes_with_no_calls_draw_nothing_but_keep_the_legend() -> None:
    html = outcomes_over_time([])
    assert rects(html) == []
    assert "outcomes per 10 min, last 4 hours" in html
    for name, colour in COLOURS.items():
        assert f'<span style="color:{colour}">■ {name}</span>' in html


def test_outcomes_stack_in_one_bar_per_ten_minutes_coloured_by_outcome() -> None:
    rows = [(ago(2), "completed")] * 2 + [(ago(3), "busy"), (ago(4), None), (ago(5), "weird")]
    bars = rects(outcomes_over_time(rows))
    assert [(bar["title"], bar["fill"]) for bar in bars] == [
        ("busy: 1", COLOURS["busy"]),
        ("completed: 2", COLOURS["completed"]),
        ("open: 1", OTHER),
        ("weird: 1", OTHER),
    ]
    assert len({bar["x"] for bar in bars}) == 1
    # The stack fills the height exactly, each piece sitting on the one before.
    heights = [float(bar["h"]) for bar in bars]
    assert sum(heights) == HEIGHT
    assert float(bars[-1]["y"]) == 0.0
    assert float(bars[0]["y"]) == HEIGHT - heights[0]


def test_outcome_bars_scale_to_the_busiest_ten_minutes() -> None:
    done: Row = (ago(5), "completed")
    rows = [done] * 4 + [(ago(65), "no_answer")]
    bars = rects(outcomes_over_time(rows))
    assert [(bar["title"], float(bar["h"])) for bar in bars] == [
        ("no_answer: 1", HEIGHT / 4),
        ("completed: 4", float(HEIGHT)),
    ]


def test_outcomes_older_than_four_hours_are_left_out() -> None:
    bars = rects(outcomes_over_time([(ago(241), "completed"), (ago(239), "busy")]))
    assert [bar["title"] for bar in bars] == ["busy: 1"]
    assert float(bars[0]["x"]) == 0.0


def test_an_outcome_name_is_escaped_in_the_svg() -> None:
    html = outcomes_over_time([(ago(1), "<script>")])
    assert "<script>" not in html
    assert "&lt;script&gt;: 1" in html


async def test_attempts_since_reads_the_campaigns_calls_claimed_since_the_moment(
    runtime: Runtime,
) -> None:
    since = utcnow() - timedelta(hours=1)
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
        other = await seed.campaign(session, name="other")
        first = await seed.contact(session, cid, "+919800000001", state="completed")
        second = await seed.contact(session, cid, "+919800000002", state="calling")
        third = await seed.contact(session, cid, "+919800000003", state="pending")
        elsewhere = await seed.contact(session, other, "+919800000004", state="calling")
        recent = utcnow() - timedelta(minutes=5)
        await seed.attempt(session, first, state="ended", outcome="completed", claimed_at=recent)
        await seed.attempt(session, second, state="started", claimed_at=recent)
        await seed.attempt(session, third, state="not_sent", claimed_at=recent)
        await seed.attempt(
            session, first, state="ended", number=2, outcome="busy",
            claimed_at=since - timedelta(minutes=1),
        )  # fmt: skip
        await seed.attempt(session, elsewhere, state="started", claimed_at=recent)

    async with runtime.sessions() as session:
        rows = await attempts_since(session, cid, since)

    assert sorted((outcome or "", at) for at, outcome in rows) == [
        ("", recent),
        ("completed", recent),
    ]


def test_progress_over_time_adds_up_calls_with_an_outcome_to_the_top() -> None:
    from campaign_engine.ops.web_charts import HEIGHT, progress_over_time

    now = utcnow()
    rows = [
        (now - timedelta(minutes=100), "completed"),
        (now - timedelta(minutes=50), "busy"),
        (now - timedelta(minutes=20), None),  # still open: no outcome yet
        (now - timedelta(hours=5), "completed"),  # before the window
    ]
    svg = progress_over_time(rows)
    found = re.search(r'points="([^"]+)"', svg)
    assert found is not None
    heights = [float(point.split(",")[1]) for point in found.group(1).split()]
    assert heights[0] == HEIGHT and heights[-1] == 0.0
    assert sorted(heights, reverse=True) == heights  # it only ever goes up
    assert len(set(heights)) == 3  # nothing, one call, both calls
    assert "(2)" in svg
