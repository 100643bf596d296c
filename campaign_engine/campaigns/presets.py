"""Legal calling-hour presets: the hours a rule allows, which clip a campaign's windows.

A preset is the outer bound an operator must not leave by mistake: a campaign's own windows
are cut to it (``07:00-10:00`` under US TCPA becomes ``08:00-10:00``). A preset with a fixed
zone (India's promotional hours are IST) is also checked in that zone at dial time, whatever
zone the campaign's windows are read in.
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    # Minutes after local midnight: [start, end).
    start_minute: int
    end_minute: int
    # None: the callee's local time; else the hours are read in this zone.
    timezone: str | None = None

    @property
    def hours(self) -> str:
        return f"{format_minute(self.start_minute)}-{format_minute(self.end_minute)}"


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        Preset("us_tcpa", "US TCPA: 08:00-21:00 callee local time", 8 * 60, 21 * 60),
        Preset(
            "india_promotional",
            "India promotional (TRAI): 09:00-21:00 IST",
            9 * 60,
            21 * 60,
            "Asia/Kolkata",
        ),
        Preset("rbi_collections", "RBI collections: 08:00-19:00 callee local", 8 * 60, 19 * 60),
    )
}


def find_preset(name: str) -> Preset | None:
    """The preset called ``name`` (case and ``-``/``_`` do not matter), or None."""
    return PRESETS.get(name.strip().lower().replace("-", "_"))


def format_minute(minute: int) -> str:
    """``570`` -> ``"09:30"``; a window may end at ``"24:00"`` or beyond (next day)."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def clip(windows: tuple[tuple[int, int], ...], preset: Preset) -> tuple[tuple[int, int], ...]:
    """The parts of ``windows`` inside the preset's hours (each day's, for windows that run
    past midnight); empty parts are dropped."""
    clipped: list[tuple[int, int]] = []
    for start, end in windows:
        for day in (0, DAY_MINUTES):
            low = max(start, preset.start_minute + day)
            high = min(end, preset.end_minute + day)
            if low < high:
                # A piece of the next day's hours is the same clock time on the window's day.
                shift = DAY_MINUTES if low >= DAY_MINUTES else 0
                clipped.append((low - shift, high - shift))
    return tuple(sorted(clipped))
