"""One outcome class per finished call, from Vocobase's status and disposition."""

from __future__ import annotations

import pytest

from campaign_engine.campaigns.outcome_classes import Outcome, classify, is_final_call_status


@pytest.mark.parametrize(
    ("status", "disposition", "expected"),
    [
        ("completed", "voicemail", Outcome.VOICEMAIL),
        ("completed", "user_hangup_no_speech", Outcome.USER_HANGUP_NO_SPEECH),
        ("failed", "blocked", Outcome.BLOCKED),
        ("no_answer", "busy", Outcome.BUSY),
        ("COMPLETED", "Voicemail", Outcome.VOICEMAIL),
    ],
)
def test_disposition_wins_over_status(status: str, disposition: str, expected: Outcome) -> None:
    assert classify(status, disposition) is expected


def test_voicemail_is_a_completed_call_with_the_voicemail_disposition() -> None:
    assert classify("completed", "voicemail") is Outcome.VOICEMAIL
    assert classify("completed", "completed") is Outcome.COMPLETED
    assert classify("completed", None) is Outcome.COMPLETED


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("completed", Outcome.COMPLETED),
        ("failed", Outcome.FAILED),
        ("no_answer", Outcome.NO_ANSWER),
        ("busy", Outcome.BUSY),
        ("canceled", Outcome.CANCELED),
        ("Busy", Outcome.BUSY),
    ],
)
def test_status_decides_when_there_is_no_disposition(status: str, expected: Outcome) -> None:
    assert classify(status, None) is expected
    assert classify(status, "") is expected


def test_an_unknown_disposition_falls_back_to_the_status() -> None:
    assert classify("busy", "something_new") is Outcome.BUSY


@pytest.mark.parametrize(
    ("status", "disposition"),
    [
        ("exploded", None),
        ("in_progress", None),
        ("exploded", "something_new"),
        (None, None),
        ("", ""),
        (None, "something_new"),
    ],
)
def test_unknown_words_give_unknown_never_a_guess(
    status: str | None, disposition: str | None
) -> None:
    assert classify(status, disposition) is Outcome.UNKNOWN


@pytest.mark.parametrize("status", ["completed", "failed", "no_answer", "busy", "canceled"])
def test_end_statuses_are_final(status: str) -> None:
    assert is_final_call_status(status)
    assert is_final_call_status(status.upper())


@pytest.mark.parametrize("status", ["pending", "ringing", "in_progress", "weird", None])
def test_running_or_unknown_statuses_are_not_final(status: str | None) -> None:
    assert not is_final_call_status(status)
