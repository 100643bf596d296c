"""The reject reason codes: their string values are a report format and never change."""

from __future__ import annotations

from campaign_engine.contacts.reject_reasons import RejectReason


def test_reject_reason_values_are_exactly_the_published_codes() -> None:
    assert [reason.value for reason in RejectReason] == [
        "missing_phone",
        "invalid_number",
        "too_long",
        "duplicate_in_file",
        "duplicate_in_campaign",
        "suppressed",
        "bad_encoding",
        "too_many_columns",
        "variable_too_long",
        "letters_in_number",
    ]


def test_a_reject_reason_is_its_code_as_a_string() -> None:
    assert {"suppressed": 1}[RejectReason.SUPPRESSED] == 1  # a key counted by its code
    assert str(RejectReason.DUPLICATE_IN_CAMPAIGN) == "duplicate_in_campaign"
    assert f"{RejectReason.TOO_LONG}" == "too_long"


def test_a_reject_reason_is_read_back_from_its_code() -> None:
    assert RejectReason("bad_encoding") is RejectReason.BAD_ENCODING
    assert {RejectReason(code.value) for code in RejectReason} == set(RejectReason)


def test_each_member_name_is_its_code_in_upper_case() -> None:
    assert all(reason.name == reason.value.upper() for reason in RejectReason)
