"""The one clock: what reads it, and how a test, a benchmark or a dry run drives it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from campaign_engine import clock
from campaign_engine.db.models import utcnow

MONDAY = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
PACKAGE = Path(clock.__file__).parent
# Wall-clock reads other than the clock's own; the simulator plays Vocobase (its own time),
# and a Retry-After date asks for a real wait (see the clock's docstring).
_WALL_CLOCK = re.compile(r"datetime\.now\(|datetime\.utcnow\(|date\.today\(|time\.time\(")
# Real waits and real files: a Retry-After date, and upload files' ages (their mtimes are
# the file system's wall clock, which a driven clock must not be compared with).
_ALLOWED = {"clock.py", "vocobase/errors.py", "ops/upload_store.py"}


def test_utcnow_reads_the_injected_clock_and_the_system_clock_comes_back_after() -> None:
    with clock.use(clock.FrozenClock(MONDAY)):
        assert utcnow() == MONDAY
    assert abs(utcnow() - datetime.now(UTC)) < timedelta(minutes=1)


def test_a_frozen_clock_stands_still_until_advanced_or_set() -> None:
    frozen = clock.FrozenClock(MONDAY)
    with clock.use(frozen):
        assert clock.now() == clock.now() == MONDAY
        assert frozen.advance(minutes=5) == MONDAY + timedelta(minutes=5)
        frozen.advance(timedelta(hours=1))
        assert utcnow() == MONDAY + timedelta(hours=1, minutes=5)
        frozen.set(MONDAY + timedelta(days=1))
        assert utcnow() == MONDAY + timedelta(days=1)


def test_a_stepping_clock_moves_by_its_step_at_every_reading() -> None:
    with clock.use(clock.SteppingClock(MONDAY, timedelta(seconds=2))):
        assert [clock.now() for _ in range(3)] == [
            MONDAY,
            MONDAY + timedelta(seconds=2),
            MONDAY + timedelta(seconds=4),
        ]


def test_clocks_refuse_naive_moments_and_moving_backwards() -> None:
    with pytest.raises(ValueError, match="naive"):
        clock.FrozenClock(datetime(2026, 12, 7, 9, 30))
    with pytest.raises(ValueError, match="forward"):
        clock.FrozenClock(MONDAY).advance(seconds=-1)
    with pytest.raises(ValueError, match="positive step"):
        clock.SteppingClock(MONDAY, timedelta(0))


def test_nested_clocks_restore_the_outer_one() -> None:
    with clock.use(clock.FrozenClock(MONDAY)):
        with clock.use(clock.FrozenClock(MONDAY + timedelta(days=3))):
            assert utcnow() == MONDAY + timedelta(days=3)
        assert utcnow() == MONDAY


def test_the_engine_reads_the_wall_clock_only_through_the_clock() -> None:
    """Every calendar decision goes through ``utcnow()``; monotonic timers are fine."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith("simulator/") or relative in _ALLOWED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if _WALL_CLOCK.search(line):
                offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == []
