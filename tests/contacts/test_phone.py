from __future__ import annotations

import pytest

from campaign_engine.contacts.phone import (
    MAX_RAW_LENGTH,
    ParsedPhone,
    PhoneError,
    check_region,
    normalize,
)
from campaign_engine.contacts.reject_reasons import RejectReason


def parsed(raw: str, region: str | None = None) -> ParsedPhone:
    result = normalize(raw, region)
    assert isinstance(result, ParsedPhone), result
    return result


def rejected(raw: str, region: str | None = None) -> PhoneError:
    result = normalize(raw, region)
    assert isinstance(result, PhoneError), result
    return result


def test_national_number_with_default_region_in_becomes_plus_91() -> None:
    result = parsed("98765 43210", "IN")
    assert result.e164 == "+919876543210"
    assert result.region == "IN"
    assert result.timezones == ("Asia/Calcutta",)  # libphonenumber's (legacy) zone name


def test_national_trunk_zero_is_dropped() -> None:
    assert parsed("098765 43210", "IN").e164 == "+919876543210"


@pytest.mark.parametrize(
    "raw",
    [
        "+91 98765 43210",
        "+91-98765-43210",
        "+91.98765.43210",
        "+91 (98765) 43210",
        "  +91 9876543210  ",
        "\u00a0+91\u00a098765\u201143210",  # no-break spaces, non-breaking hyphen
        "+919876543210",
    ],
)
def test_separators_spaces_dashes_dots_parentheses_are_accepted(raw: str) -> None:
    assert parsed(raw).e164 == "+919876543210"


@pytest.mark.parametrize("raw", ["0091 98765 43210", "00919876543210", "00 91 98765-43210"])
def test_leading_00_is_read_as_international_prefix_even_when_region_is_us(raw: str) -> None:
    # libphonenumber alone honours only the region's own prefix (011 for US).
    assert parsed(raw, "US").e164 == "+919876543210"
    assert parsed(raw, None).e164 == "+919876543210"


@pytest.mark.parametrize("raw", ["tel:+1-650-253-0000", "TEL:+16502530000", "tel: +1 650 253 0000"])
def test_tel_prefix_is_accepted_in_any_case(raw: str) -> None:
    assert parsed(raw).e164 == "+16502530000"


@pytest.mark.parametrize(
    "raw", ["(650) 253-0000 ext. 123", "650-253-0000 x12", "650.253.0000 #9", "6502530000;ext=5"]
)
def test_trailing_extension_is_dropped_from_the_dialled_number(raw: str) -> None:
    assert parsed(raw, "US").e164 == "+16502530000"


def test_excel_text_marker_apostrophe_is_ignored() -> None:
    assert parsed("'+919876543210").e164 == "+919876543210"


@pytest.mark.parametrize("raw", ["9.19876543210E+11", "9.19877e+11", "9,19876543210E+11", "9E+11"])
def test_excel_scientific_notation_is_rejected_as_invalid_number(raw: str) -> None:
    error = rejected(raw, "IN")
    assert error.reason is RejectReason.INVALID_NUMBER
    assert "scientific notation" in error.detail


def test_float_export_suffix_dot_zero_keeps_every_digit() -> None:
    # Read naively, "9876543210.0" is the 11-digit 98765432100.
    assert parsed("9876543210.0", "IN").e164 == "+919876543210"
    assert parsed("919876543210.0", "IN").e164 == "+919876543210"


def test_google_contacts_multi_value_cell_uses_the_first_number() -> None:
    assert parsed("+91 98765 43210 ::: +91 98765 43211").e164 == "+919876543210"


@pytest.mark.parametrize("raw", ["", "   ", "\t"])
def test_empty_cell_is_missing_phone(raw: str) -> None:
    assert rejected(raw, "IN").reason is RejectReason.MISSING_PHONE


def test_more_than_32_characters_is_too_long() -> None:
    assert len("+91 98765 43210 / +91 98765 43211") > MAX_RAW_LENGTH
    assert rejected("+91 98765 43210 / +91 98765 43211").reason is RejectReason.TOO_LONG
    assert isinstance(normalize("+1 650 253 0000 ext. 1234567890", None), ParsedPhone)


def test_number_without_country_code_and_without_region_is_invalid_number() -> None:
    error = rejected("98765 43210", None)
    assert error.reason is RejectReason.INVALID_NUMBER
    assert "no country code" in error.detail


@pytest.mark.parametrize("raw", ["12345", "abc", "+91 12345", "+1 555 0100", "0091"])
def test_impossible_or_unassigned_numbers_are_invalid_number(raw: str) -> None:
    assert rejected(raw, "US").reason is RejectReason.INVALID_NUMBER


def test_us_geographic_numbers_get_their_single_zone() -> None:
    assert parsed("+1 650 253 0000").timezones == ("America/Los_Angeles",)
    assert parsed("(212) 736-1000", "US").timezones == ("America/New_York",)
    assert parsed("+1 650 253 0000").region == "US"


def test_us_toll_free_number_spans_every_nanp_zone() -> None:
    zones = parsed("+1 800 555 0199").timezones
    assert len(zones) > 30
    assert {"America/New_York", "America/Los_Angeles", "Pacific/Honolulu"} <= set(zones)


def test_russian_mobile_number_spans_several_zones() -> None:
    result = parsed("+7 912 345 6789")
    assert result.region == "RU"
    assert len(result.timezones) > 1
    assert "Europe/Moscow" in result.timezones


def test_non_geographic_number_has_no_region_and_unknown_zone_filtered_out() -> None:
    result = parsed("+800 1234 5678")
    assert result.e164 == "+80012345678"
    assert result.region is None
    assert result.timezones == ()


def test_italian_leading_zero_survives_in_e164() -> None:
    assert parsed("06 1234 5678", "IT").e164 == "+390612345678"


def test_check_region_upper_cases_and_rejects_unknown_codes() -> None:
    assert check_region("in") == "IN"
    assert check_region(" US ") == "US"
    assert check_region(None) is None
    assert check_region("") is None
    with pytest.raises(ValueError, match="unknown default region 'XX'"):
        check_region("XX")


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("98765abcde", "IN"),  # a CRM typo, once dialled as +919876522233
        ("98765abc10", "IN"),
        ("98765 43210 ab", "IN"),  # two letters, once dropped silently
        ("+91 98765 4321O", None),  # a letter O for a zero
        ("+91 98765 43210 (home)", None),
        ("1-800-FLOWERS", "US"),  # a real vanity number: only read when asked for
        ("98765abcde x12", "IN"),  # an extension does not hide letters before it
    ],
)
def test_letters_in_a_number_are_rejected_never_read_as_keypad_digits(
    raw: str, region: str | None
) -> None:
    error = rejected(raw, region)
    assert error.reason is RejectReason.LETTERS_IN_NUMBER
    assert repr(raw) in error.detail
    assert "vanity" in error.detail


def test_vanity_numbers_are_read_as_keypad_digits_only_when_asked_for() -> None:
    vanity = normalize("1-800-FLOWERS", "US", vanity=True)
    assert isinstance(vanity, ParsedPhone) and vanity.e164 == "+18003569377"
    typo = normalize("98765abcde", "IN", vanity=True)
    assert isinstance(typo, ParsedPhone) and typo.e164 == "+919876522233"
    # Without letters the flag changes nothing.
    assert normalize("98765 43210", "IN", vanity=True) == parsed("98765 43210", "IN")


@pytest.mark.parametrize(
    "raw",
    [
        "Mobile: +91 98765 43210",  # a label before the number is not part of it
        "mob 98765 43210",
        "tel:+91 98765 43210",
        "98765 43210 ext. 12",  # nor is an extension marker after it
        "98765 43210 Ext 12",
        "98765 43210 x12",
        "98765 43210 extension 5",
        "98765 43210 anexo 12",
        "9876543210;ext=5",
        "98765 43210 #9",
    ],
)
def test_labels_before_the_number_and_extension_markers_are_not_letters_in_it(raw: str) -> None:
    assert parsed(raw, "IN").e164 == "+919876543210"
