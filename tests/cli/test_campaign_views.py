"""What people read from ``campaign show``, ``status`` and ``preflight``: the text renderers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from campaign_engine.campaigns.preflight import Preflight
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.schedule import parse_schedule
from campaign_engine.cli import common
from campaign_engine.cli.campaign_views import (
    _duration,
    print_overview,
    print_preflight,
    print_status,
    say,
    warn,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as wide as they need: no cell is wrapped onto a second line."""
    monkeypatch.setattr(common.console, "_width", 200)
    monkeypatch.setattr(common.errors, "_width", 200)


def printed(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], list[str]]:
    captured = capsys.readouterr()
    return (
        [ANSI.sub("", line).rstrip() for line in captured.out.splitlines()],
        [ANSI.sub("", line).rstrip() for line in captured.err.splitlines()],
    )


def table_rows(lines: list[str]) -> list[list[str]]:
    """The cells of every table row (box-drawn with │), headers included."""
    return [
        [cell.strip() for cell in line.strip().strip("│┃").split("│" if "│" in line else "┃")]
        for line in lines
        if line.lstrip().startswith(("│", "┃"))
    ]


def status(**fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "c-1",
        "name": "Diwali offers",
        "state": "running",
        "state_reason": None,
        "provider": "mcube",
        "contacts": {"total": 10, "final": 4, "by_state": {"pending": 6, "completed": 4}},
        "attempts": {"by_outcome": {"no_answer": 3, "completed": 4}},
    }
    return {**data, **fields}


def overview(**fields: Any) -> dict[str, Any]:
    data = status()
    data.update(
        {
            "limits": {"max_concurrent": None, "calls_per_minute": 30, "max_call_seconds": 600},
            "schedule": None,
            "retry_policy": RetryPolicy().model_dump(mode="json"),
            "events": [
                {
                    "at": "2030-06-03T04:30:00+00:00",
                    "from": None,
                    "to": "draft",
                    "actor": "asha",
                    "reason": None,
                },
                {
                    "at": "2030-06-03T04:31:00+00:00",
                    "from": "draft",
                    "to": "running",
                    "actor": "asha",
                    "reason": "go",
                },
            ],
        }
    )
    return {**data, **fields}


# --- status --------------------------------------------------------------------------------


def test_status_prints_the_headline_and_sorted_counts(capsys: pytest.CaptureFixture[str]) -> None:
    print_status(status())

    out, err = printed(capsys)
    assert out[0] == "Diwali offers (c-1) — running"
    assert out[1] == "contacts: 4 final of 10"
    assert table_rows(out) == [
        ["contact state", "count"],
        ["completed", "4"],
        ["pending", "6"],
        ["attempt outcome", "count"],
        ["completed", "4"],
        ["no_answer", "3"],
    ]
    assert err == []


def test_status_shows_the_state_reason_and_prints_markup_in_names_literally(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_status(status(name="[red]promo[/red]", state="paused", state_reason="[b]HTTP 401[/b]"))

    out, _ = printed(capsys)
    assert out[0] == "[red]promo[/red] (c-1) — paused: [b]HTTP 401[/b]"


# --- overview ------------------------------------------------------------------------------


def test_overview_prints_limits_with_dashes_for_none(capsys: pytest.CaptureFixture[str]) -> None:
    print_overview(overview())

    out, _ = printed(capsys)
    assert "provider mcube; max concurrent -; calls per minute 30; agent max call 600 s" in out
    assert "schedule: none (calls at any time)" in out


def test_overview_prints_the_estimate_and_a_recurring_campaigns_days_with_totals(
    capsys: pytest.CaptureFixture[str],
) -> None:
    daily = {
        "zone": "Asia/Calcutta",
        "days": [{"date": "2030-06-03", "added": 5, "called": 4, "final": 3}],
        "total": {"added": 5, "called": 4, "final": 3},
    }
    estimate = {
        "finish": "2030-06-03T07:00:00+00:00",
        "binding": "concurrency",
        "description": "limited by concurrency 5 and ~3 min calls",
        "calls_per_hour": 100.0,
    }
    print_overview(overview(estimate=estimate, daily=daily, recurring=True))

    out, _ = printed(capsys)
    assert (
        "estimated finish: 2030-06-03T07:00:00+00:00 (limited by concurrency 5 and ~3 min calls)"
        in out
    )
    rows = table_rows(out)
    assert ["2030-06-03", "5", "4", "3"] in rows
    assert ["total", "5", "4", "3"] in rows
    print_overview(overview(daily=daily, recurring=False))
    assert ["total", "5", "4", "3"] not in table_rows(printed(capsys)[0])


def test_overview_prints_the_retry_policy_one_row_per_outcome(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_overview(overview())

    out, _ = printed(capsys)
    assert "retry policy: at most 4 attempts per contact; voicemail_once false" in out
    rows = table_rows(out)
    start = rows.index(["outcome", "retry", "budget", "delay", "backoff", "max delay", "jitter"])
    assert rows[start + 1 : start + 6] == [
        ["no_answer", "yes", "2", "2h", "fixed", "1d", "±10%"],
        ["busy", "yes", "3", "15m", "fixed", "1d", "±10%"],
        ["voicemail", "yes", "1", "4h", "fixed", "1d", "±10%"],
        ["failed", "yes", "2", "5m", "exponential x2", "1d", "±10%"],
        ["user_hangup_no_speech", "yes", "1", "1h", "fixed", "1d", "±10%"],
    ]
    assert out.index("completed: never retried") > out.index(
        "retry policy: at most 4 attempts per contact; voicemail_once false"
    )


def test_overview_marks_rules_that_do_not_retry(capsys: pytest.CaptureFixture[str]) -> None:
    policy = RetryPolicy().model_dump(mode="json")
    policy["voicemail_once"] = True
    policy["rules"]["busy"].update(retry=False, backoff="exponential", multiplier=1.5)

    print_overview(overview(retry_policy=policy))

    out, _ = printed(capsys)
    assert "retry policy: at most 4 attempts per contact; voicemail_once true" in out
    busy = next(row for row in table_rows(out) if row[0] == "busy")
    assert busy[1:5] == ["no", "3", "15m", "exponential x1.5"]


def test_overview_prints_the_history_with_blank_missing_states_and_reasons(
    capsys: pytest.CaptureFixture[str],
) -> None:
    events = overview()["events"] + [
        {
            "at": "2030-06-03T05:00:00+00:00",
            "from": "running",
            "to": "paused",
            "actor": "[circuit]",
            "reason": "[b]bad key[/b]",
        }
    ]
    print_overview(overview(events=events))

    out, _ = printed(capsys)
    rows = table_rows(out)
    start = rows.index(["when", "from", "to", "by", "why"])
    assert rows[start + 1 :] == [
        ["2030-06-03T04:30:00+00:00", "", "draft", "asha", ""],
        ["2030-06-03T04:31:00+00:00", "draft", "running", "asha", "go"],
        ["2030-06-03T05:00:00+00:00", "running", "paused", "[circuit]", "[b]bad key[/b]"],
    ]


def test_overview_prints_a_callee_zone_schedule_with_its_fallback_and_blackouts(
    capsys: pytest.CaptureFixture[str],
) -> None:
    schedule = parse_schedule(
        {
            "days": ["mon", "tue"],
            "windows": ["10:00-13:00", "15:00-18:00"],
            "timezone": "callee",
            "fallback_timezone": "Asia/Kolkata",
            "blackout_dates": ["2030-06-05", "2030-06-06"],
        }
    ).to_json()

    print_overview(overview(schedule=schedule))

    out, _ = printed(capsys)
    first = out.index(
        "schedule: 10:00-13:00, 15:00-18:00 on mon, tue, in the callee's own zones "
        "(else Asia/Kolkata)"
    )
    assert out[first + 1 : first + 4] == [
        "  preset: none",
        "  start: when started; end: none",
        "  blackout dates: 2030-06-05, 2030-06-06",
    ]


def test_overview_prints_a_fixed_zone_schedule_with_its_dates_and_no_blackout_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    schedule = parse_schedule(
        {
            "days": ["mon"],
            "windows": ["10:00-13:00"],
            "timezone": "Asia/Kolkata",
            "start": "2030-06-05T00:00:00+05:30",
            "end": "2030-06-30",
        }
    ).to_json()

    print_overview(overview(schedule=schedule))

    out, _ = printed(capsys)
    first = out.index("schedule: 10:00-13:00 on mon, in Asia/Kolkata")
    assert out[first + 2] == f"  start: {schedule['start']}; end: {schedule['end']}"
    assert not any(line.startswith("  blackout dates") for line in out)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (1.5, "1.5s"),
        (60, "1m"),
        (90, "90s"),
        (5400, "90m"),
        (7200, "2h"),
        (86400, "1d"),
        (172800, "2d"),
        (90000, "25h"),
    ],
)
def test_a_delay_is_shown_in_the_largest_unit_that_divides_it(seconds: float, text: str) -> None:
    assert _duration(seconds) == text


# --- preflight -----------------------------------------------------------------------------


def test_preflight_prints_counts_blocked_reasons_pace_and_finish_with_what_binds_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = Preflight(
        campaign_id="c-1",
        contacts=10,
        final=1,
        callable=6,
        blocked={"suppressed": 2, "no_window": 0, "daily_cap_reached": 1},
        first_call_at=datetime(2030, 6, 3, 4, 30, tzinfo=UTC),
        calls_per_hour=120.0,
        average_call_seconds=92.4,
        average_call_from="the agent's maximum",
        estimated_finish=datetime(2030, 6, 3, 5, 0, tzinfo=UTC),
        binding="concurrency",
        binding_description="limited by concurrency 5 and ~2 min calls",
    )

    print_preflight(report)

    out, err = printed(capsys)
    assert out == [
        "preflight: 6 callable, 3 blocked, 1 already final, of 10 contacts",
        "  blocked, suppressed: 2",
        "  blocked, daily cap reached: 1",
        "  first call allowed at 2030-06-03T04:30:00+00:00",
        "  pace: 120 calls/hour (average call 92 s, from the agent's maximum)",
        "  estimated finish: 2030-06-03T05:00:00+00:00 (limited by concurrency 5 and ~2 min calls)",
    ]
    assert err == []


def test_preflight_with_callable_contacts_but_no_finish_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    print_preflight(Preflight(campaign_id="c-1", contacts=3, callable=3, calls_per_hour=7.5))

    out, _ = printed(capsys)
    assert out[-1] == "  estimated finish: not within the schedule's dates"
    assert not any("first call allowed" in line for line in out)


def test_preflight_with_nobody_callable_prints_no_finish_and_warns_on_stderr(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = Preflight(
        campaign_id="c-1",
        contacts=2,
        final=2,
        warnings=["no contacts left", "[bold]markup[/bold] is shown as written"],
    )

    print_preflight(report)

    out, err = printed(capsys)
    assert out == [
        "preflight: 0 callable, 0 blocked, 2 already final, of 2 contacts",
        "  pace: 0 calls/hour (average call 0 s, from )",
    ]
    assert err == [
        "warning: no contacts left",
        "warning: [bold]markup[/bold] is shown as written",
    ]


# --- say / warn ----------------------------------------------------------------------------


def test_a_long_line_is_never_wrapped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(common.console, "_width", 20)
    monkeypatch.setattr(common.errors, "_width", 20)
    long = "word " * 30

    say(long.strip())
    warn(long.strip())

    out, err = printed(capsys)
    assert out == [long.strip()]
    assert err == ["warning: " + long.strip()]
