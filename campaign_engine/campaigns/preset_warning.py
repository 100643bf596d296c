"""What an operator is told when a campaign pins a zone and its preset is read on the callee's
clock: the preset still applies in each callee's own time, so the pinned windows are
narrowed for callees elsewhere (they are never widened).

A plain function of its arguments (no clock, no I/O); the day the examples are worked out
on is given.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

from campaign_engine.campaigns.schedule import Schedule, window_text
from campaign_engine.campaigns.windows import (
    DAY_MINUTES,
    LocalRule,
    allowed_intervals,
    to_utc,
    zone,
)

# Callee zone groups worked out in the warning; the rest are only counted.
MAX_EXAMPLES = 4
_NEVER = "never"


def preset_warning(
    schedule: Schedule | None, callee_zones: Iterable[tuple[str, ...]] = (), *, on: date
) -> str | None:
    """The warning for a pinned campaign whose preset is read on the callee's clock (else
    None), with what it means, on ``on``, for each group of callee zones given (largest
    first: the caller's order), groups that read the pinned clock left out."""
    preset = schedule.callee_preset if schedule is not None else None
    if schedule is None or preset is None:
        return None
    pinned = schedule.timezone
    windows = ", ".join(window_text(window) for window in schedule.windows)
    text = (
        f"preset {preset.name} applies in each callee's own time: with timezone {pinned}, "
        f"the windows {windows} ({pinned} time) are narrowed for callees in other zones "
        f"to what {preset.hours} their own time allows"
    )
    groups = [zones for zones in dict.fromkeys(callee_zones) if zones and zones != (pinned,)]
    if not groups:
        return text
    hours = ((preset.start_minute, preset.end_minute),)
    campaign = LocalRule(pinned, schedule.windows)
    examples = []
    for zones in groups[:MAX_EXAMPLES]:
        law = [LocalRule(name, hours) for name in zones]
        both = _on_clock([campaign, *law], pinned, on)
        examples.append(
            f"{' + '.join(zones)} callees: {preset.hours} their time = "
            f"{_on_clock(law, pinned, on)} {pinned}, "
            + ("so never called" if both == _NEVER else f"so called {both}")
        )
    more = len(groups) - MAX_EXAMPLES
    if more > 0:
        examples.append(f"and {more} more zone group{'s' if more > 1 else ''}")
    return f"{text} (on {on.isoformat()}: {'; '.join(examples)})"


def _on_clock(rules: list[LocalRule], pinned: str, on: date) -> str:
    """The moments of ``on`` (a day of the pinned clock) that every rule allows, written on
    the pinned clock (``24:00``: its midnight); ``never`` when none."""
    begins = to_utc(pinned, on, 0, edge="start")
    ends = to_utc(pinned, on + timedelta(days=1), 0, edge="start")
    pieces = []
    for opens, closes in allowed_intervals(rules, begins, ends):
        start, end = opens.astimezone(zone(pinned)), closes.astimezone(zone(pinned))
        end_minute = DAY_MINUTES if closes >= ends else end.hour * 60 + end.minute
        pieces.append(window_text((start.hour * 60 + start.minute, end_minute)))
    return ", ".join(pieces) or _NEVER
