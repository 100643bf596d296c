"""The operator's schedule and retry files: read, merged with defaults, errors naming all."""

from __future__ import annotations

from pathlib import Path

import pytest

from campaign_engine.campaigns.files import (
    CampaignFileError,
    load_retry_policy,
    load_schedule,
    parse_duration,
)
from campaign_engine.campaigns.outcome_classes import Outcome
from campaign_engine.campaigns.retry_policy import RetryPolicy


def write(tmp_path: Path, text: str, name: str = "file.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_schedule_file_is_read_with_toml_dates_and_times(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'preset = "us_tcpa"\ndays = ["mon", "fri"]\nwindows = ["10:00-13:00"]\n'
        "start = 2026-12-01T09:00:00-05:00\nend = 2026-12-31\n"
        'blackout_dates = [2026-12-25, "2026-12-26"]\n',
    )
    schedule = load_schedule(path)
    assert schedule.to_json()["start"] == "2026-12-01T14:00:00Z"
    assert schedule.to_json()["blackout_dates"] == ["2026-12-25", "2026-12-26"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('windows = ["9-5"]\n', "windows: expected \"HH:MM-HH:MM\", got '9-5'"),
        ("days = [\n", "not valid TOML"),
        ('timezone = "Atlantis"\n', "timezone: unknown time zone 'Atlantis'"),
    ],
)
def test_a_bad_schedule_file_names_the_file_the_key_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, text, "office-hours.toml")
    with pytest.raises(CampaignFileError) as raised:
        load_schedule(path)
    assert str(raised.value).startswith(f"{path}: {problem}")


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CampaignFileError, match=r"nowhere\.toml: file not found"):
        load_schedule(tmp_path / "nowhere.toml")


def test_a_retry_file_overrides_only_what_it_names(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "max_attempts = 6\nvoicemail_once = true\n"
        '[busy]\nmax_retries = 5\ndelay = "10m"\n'
        '[no_answer]\nbackoff = "exponential"\nmax_delay = "1d"\njitter = 0.25\n'
        "[user_hangup_no_speech]\nretry = false\n",
    )
    policy = load_retry_policy(path)
    defaults = RetryPolicy()

    assert (policy.max_attempts, policy.voicemail_once) == (6, True)
    busy = policy.rules[Outcome.BUSY]
    assert (busy.max_retries, busy.delay_seconds) == (5, 600)
    assert busy.jitter == defaults.rules[Outcome.BUSY].jitter
    no_answer = policy.rules[Outcome.NO_ANSWER]
    assert (no_answer.backoff, no_answer.max_delay_seconds, no_answer.jitter) == (
        "exponential",
        86400,
        0.25,
    )
    assert no_answer.delay_seconds == defaults.rules[Outcome.NO_ANSWER].delay_seconds
    assert policy.rules[Outcome.USER_HANGUP_NO_SPEECH].retry is False
    assert policy.rules[Outcome.FAILED] == defaults.rules[Outcome.FAILED]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[completed]\nretry = true\n", "completed: a completed conversation is never retried"),
        ("[ringing]\nretry = true\n", "ringing: unknown key (expected one of max_attempts, "),
        ("[busy]\nwait = 5\n", "busy.wait: unknown key (expected one of retry, "),
        ('[busy]\ndelay = "soon"\n', 'busy.delay: expected a duration such as 900 or "15m"'),
        ("[busy]\njitter = 2\n", "busy.jitter: Input should be less than or equal to 1"),
        ('[busy]\nbackoff = "random"\n', "busy.backoff: Input should be 'fixed' or 'exponential'"),
        ("max_attempts = 0\n", "max_attempts: Input should be greater than or equal to 1"),
        ("busy = 3\n", "busy: expected a table ([busy]) of rule keys"),
    ],
)
def test_a_bad_retry_file_names_the_file_the_key_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = write(tmp_path, text, "retry.toml")
    with pytest.raises(CampaignFileError) as raised:
        load_retry_policy(path)
    assert str(raised.value).startswith(f"{path}: {problem}")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(90, 90.0), (1.5, 1.5), ("45s", 45.0), ("15m", 900.0), ("2h", 7200.0), ("1d", 86400.0)],
)
def test_durations_are_seconds_or_a_number_with_a_unit(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds
