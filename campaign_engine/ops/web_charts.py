"""Inline SVG charts for a campaign: calls per minute, outcomes over time, and progress
(calls that reached an outcome, added up) over time.

Plain SVG rectangles, no JavaScript library: the page stays light on a phone and renders
the same in every browser. Data are attempts by the minute (or ten minutes) they were
claimed, grouped in Python from one bounded query.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from html import escape

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import CallAttempt, utcnow
from campaign_engine.states import AttemptState

WIDTH, HEIGHT = 600, 120
COLOURS = {
    "completed": "#2e7d32",
    "no_answer": "#f9a825",
    "busy": "#ef6c00",
    "voicemail": "#6a1b9a",
    "failed": "#c62828",
}
OTHER = "#607d8b"


async def attempts_since(
    session: AsyncSession, campaign_id: str, since: datetime
) -> list[tuple[datetime, str | None]]:
    rows = await session.execute(
        select(CallAttempt.claimed_at, CallAttempt.outcome).where(
            CallAttempt.campaign_id == campaign_id,
            CallAttempt.claimed_at >= since,
            CallAttempt.state != AttemptState.NOT_SENT.value,
        )
    )
    return [(claimed, outcome) for claimed, outcome in rows.all()]


def _bucket(at: datetime, start: datetime, size: timedelta) -> int:
    return int((at - start) / size)


def calls_per_minute(rows: list[tuple[datetime, str | None]], *, minutes: int = 60) -> str:
    now = utcnow()
    start = now - timedelta(minutes=minutes)
    counts = Counter(_bucket(at, start, timedelta(minutes=1)) for at, _ in rows if at >= start)
    peak = max(counts.values(), default=0) or 1
    bar = WIDTH / minutes
    bars = "".join(
        f'<rect x="{i * bar:.1f}" y="{HEIGHT - counts[i] / peak * HEIGHT:.1f}" '
        f'width="{bar * 0.9:.1f}" height="{counts[i] / peak * HEIGHT:.1f}" fill="#1565c0">'
        f"<title>{counts[i]} calls</title></rect>"
        for i in range(minutes)
        if counts[i]
    )
    return _svg(
        f"calls per minute, last {minutes} min (peak {max(counts.values(), default=0)})", bars
    )


def outcomes_over_time(rows: list[tuple[datetime, str | None]], *, buckets: int = 24) -> str:
    """Stacked bars of outcomes per ten minutes over the last four hours."""
    size = timedelta(minutes=10)
    start = utcnow() - size * buckets
    stacks: dict[int, Counter[str]] = {}
    for at, outcome in rows:
        if at >= start:
            stacks.setdefault(_bucket(at, start, size), Counter())[outcome or "open"] += 1
    peak = max((sum(c.values()) for c in stacks.values()), default=0) or 1
    bar = WIDTH / buckets
    parts = []
    for index, counts in sorted(stacks.items()):
        y = float(HEIGHT)
        for outcome, count in sorted(counts.items()):
            height = count / peak * HEIGHT
            y -= height
            parts.append(
                f'<rect x="{index * bar:.1f}" y="{y:.1f}" width="{bar * 0.9:.1f}" '
                f'height="{height:.1f}" fill="{COLOURS.get(outcome, OTHER)}">'
                f"<title>{escape(outcome)}: {count}</title></rect>"
            )
    legend = " ".join(
        f'<span style="color:{colour}">■ {name}</span>' for name, colour in COLOURS.items()
    )
    return _svg("outcomes per 10 min, last 4 hours", "".join(parts)) + f"<p>{legend}</p>"


def progress_over_time(rows: list[tuple[datetime, str | None]], *, buckets: int = 48) -> str:
    """Calls that reached an outcome, added up per five minutes over the last four hours:
    a line that flattens when the campaign stalls (paused, outside its windows)."""
    size = timedelta(minutes=5)
    start = utcnow() - size * buckets
    counts = Counter(_bucket(at, start, size) for at, outcome in rows if outcome and at >= start)
    running, points = 0, [f"0,{HEIGHT}"]
    total = sum(counts.values()) or 1
    for index in range(buckets):
        running += counts[index]
        points.append(
            f"{(index + 1) * WIDTH / buckets:.1f},{HEIGHT - running / total * HEIGHT:.1f}"
        )
    line = (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="#1565c0" stroke-width="2" '
        'vector-effect="non-scaling-stroke">'
        f"<title>{sum(counts.values())} calls with an outcome</title></polyline>"
    )
    return _svg(f"calls with an outcome, added up, last 4 hours ({sum(counts.values())})", line)


def _svg(title: str, body: str) -> str:
    return (
        f"<figure><figcaption>{escape(title)}</figcaption>"
        f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" preserveAspectRatio="none" role="img" '
        f'aria-label="{escape(title)}" style="background:#f5f5f5">{body}</svg></figure>'
    )
