"""The campaign form's fields read as a schedule or retry file would be, with its errors."""

from __future__ import annotations

import pytest

from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.schedule_values import ScheduleError
from campaign_engine.ops.web_campaign_form import (
    duration_text,
    fields_of,
    policy_from,
    schedule_from,
    schedule_summary,
    warning_for,
)


def test_durations_show_in_the_largest_whole_unit_and_read_back() -> None:
    assert [duration_text(s) for s in (900, 3600, 86400, 90, 0, 1.5)] == [
        "15m", "1h", "1d", "90s", "0s", "1.5s",
    ]  # fmt: skip


def test_no_calling_hours_ticked_is_no_schedule() -> None:
    assert schedule_from({"windows": "09:00-18:00"}) is None
    assert schedule_summary(None) == "any time (no schedule)"


def test_the_form_becomes_the_schedule_a_file_with_the_same_keys_would() -> None:
    form = {
        "scheduled": "yes", "windows": "09:00-13:00, 14:00-19:00", "day:mon": "on",
        "day:tue": "on", "preset": "rbi_collections", "blackout_dates": "2026-12-25",
    }  # fmt: skip
    schedule = schedule_from(form)
    assert schedule is not None
    data = schedule.to_json()
    assert (data["days"], data["windows"], data["preset"]) == (
        ["mon", "tue"], ["09:00-13:00", "14:00-19:00"], "rbi_collections",
    )  # fmt: skip
    assert data["blackout_dates"] == ["2026-12-25"]
    assert schedule_summary(schedule) == (
        "09:00-13:00, 14:00-19:00 on mon, tue, each callee's own time, within preset "
        "rbi_collections"
    )


def test_a_bad_window_is_refused_naming_the_key_as_for_a_file() -> None:
    with pytest.raises(ScheduleError, match=r"^windows: "):
        schedule_from({"scheduled": "yes", "windows": "25:00-26:00", "day:mon": "on"})
    with pytest.raises(ScheduleError, match=r"^days: "):
        schedule_from({"scheduled": "yes", "windows": "09:00-10:00"})


def test_a_pinned_zone_under_a_callee_clock_preset_is_explained() -> None:
    form = {"scheduled": "yes", "windows": "09:00-18:00", "day:mon": "on",
            "timezone": "Asia/Dubai", "preset": "us_tcpa"}  # fmt: skip
    warning = warning_for(schedule_from(form))
    assert warning is not None and "applies in each callee's own time" in warning
    assert warning_for(None) is None


def test_the_retry_table_becomes_the_policy_a_retry_file_would() -> None:
    form = {"max_attempts": "3", "voicemail_once": "yes", "busy.retry": "yes",
            "busy.max_retries": "5", "busy.delay": "15m", "busy.backoff": "exponential",
            "busy.max_delay": "2h", "busy.jitter": "0.1"}  # fmt: skip
    policy = policy_from(form)
    busy = {o.value: r for o, r in policy.rules.items()}["busy"]
    assert (policy.max_attempts, policy.voicemail_once) == (3, True)
    assert (busy.max_retries, busy.delay_seconds, busy.backoff) == (5, 900.0, "exponential")
    assert (busy.max_delay_seconds, busy.jitter) == (7200.0, 0.1)
    assert not {o.value: r for o, r in policy.rules.items()}["no_answer"].retry


def test_a_bad_retry_field_names_its_outcome_and_key() -> None:
    with pytest.raises(ValueError, match=r"^busy\.delay: expected a duration"):
        policy_from({"busy.retry": "yes", "busy.delay": "soon"})


def test_an_unchanged_form_gives_back_the_policy_it_showed() -> None:
    shown = fields_of(None)
    form = {"max_attempts": shown.max_attempts}
    for outcome, rule in shown.rules.items():
        form |= {f"{outcome}.max_retries": str(rule.max_retries), f"{outcome}.delay": rule.delay,
                 f"{outcome}.backoff": rule.backoff, f"{outcome}.max_delay": rule.max_delay,
                 f"{outcome}.jitter": str(rule.jitter)}  # fmt: skip
        if rule.retry:
            form[f"{outcome}.retry"] = "yes"
    assert policy_from(form) == RetryPolicy()
