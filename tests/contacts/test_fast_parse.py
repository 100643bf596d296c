"""The fast paths give exactly what libphonenumber's public functions give.

``fast_parse.parse_plain`` skips ``phonenumbers.parse`` for plain digit strings and
``number_facts.facts`` computes a number's type once; both are only worth having if they
never change an answer. The corpus is every region's example numbers in every format, with
digits perturbed (so many are invalid), plus random digit strings.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType
from phonenumbers.timezone import time_zones_for_number

from campaign_engine.contacts.fast_parse import parse_plain
from campaign_engine.contacts.number_facts import facts
from campaign_engine.contacts.phone import ParsedPhone, PhoneError, normalize
from campaign_engine.contacts.reject_reasons import RejectReason

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE)
FORMATS = (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL)


def corpus() -> list[tuple[str, str | None]]:
    rng = random.Random(20240601)
    cases: list[tuple[str, str | None]] = []
    for region in REGIONS:
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for style in FORMATS:
                text = phonenumbers.format_number(example, style)
                perturbed = "".join(
                    rng.choice("0123456789") if char.isdigit() and rng.random() < 0.2 else char
                    for char in text
                )
                for written in (text, perturbed):
                    cases.append((written, rng.choice([region, "IN", "US", None])))
    for _ in range(600):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(3, 15)))
        cases.append((rng.choice(["", "+", "00", "0"]) + digits, rng.choice([*REGIONS, None])))
    return cases


CORPUS = corpus()


def test_plain_parse_agrees_with_phonenumbers_parse_on_every_valid_number_it_returns() -> None:
    taken = 0
    for text, region in CORPUS:
        plain = parse_plain(text.replace("00", "+", 1) if text.startswith("00") else text, region)
        if plain is None:
            continue
        country_code, national = plain
        fast = PhoneNumber(country_code=country_code, national_number=int(national))
        if not phonenumbers.is_valid_number(fast):
            continue
        taken += 1
        slow = phonenumbers.parse(text if not text.startswith("00") else "+" + text[2:], region)
        assert fast == slow, (text, region)
        assert national == phonenumbers.national_significant_number(slow)
    assert taken > 500  # the fast path is actually taken for most plain inputs


@pytest.mark.parametrize(
    ("text", "region"),
    [
        ("098765 43210", "IN"),  # national prefix: parse() strips it
        ("919876543210", "IN"),  # the region's country code without "+"
        ("011 44 20 7946 0958", "US"),  # the region's international prefix
        ("+39 06 6982 0000", None),  # Italian leading zero
        ("tel:+919876543210", None),  # anything but digits and separators
        ("9876543210", None),  # national digits and no region
    ],
)
def test_plain_parse_declines_what_only_the_full_parser_may_decide(
    text: str, region: str | None
) -> None:
    assert parse_plain(text, region) is None


def test_facts_agree_with_is_valid_number_region_and_time_zones_for_every_region() -> None:
    checked = 0
    for text, region in CORPUS:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        known = facts(number)
        if not phonenumbers.is_valid_number(number):
            assert known is None, text
            continue
        checked += 1
        assert known is not None
        assert known.e164 == phonenumbers.format_number(number, PhoneNumberFormat.E164)
        expected_region = phonenumbers.region_code_for_number(number)
        assert known.region == (None if expected_region in ("001", "ZZ") else expected_region)
        zones = tuple(zone for zone in time_zones_for_number(number) if zone != "Etc/Unknown")
        assert known.timezones == zones, text
    assert checked > 500


def test_normalize_accepts_exactly_the_numbers_phonenumbers_deems_valid() -> None:
    for text, region in CORPUS:
        result = normalize(text, region)
        try:
            number = phonenumbers.parse(
                text.replace("00", "+", 1) if text[:2] == "00" else text, region
            )
            valid = phonenumbers.is_valid_number(number)
        except phonenumbers.NumberParseException:
            valid = False
        assert isinstance(result, ParsedPhone) == valid, (text, region, result)
        if valid:
            assert isinstance(result, ParsedPhone)
            assert result.e164 == phonenumbers.format_number(number, PhoneNumberFormat.E164)


def test_a_number_with_letters_is_rejected_on_both_paths_and_read_only_as_vanity_when_asked() -> (
    None
):
    # The fast path never decides a cell with a letter in it; the full parser would read the
    # letters as keypad digits, which only --vanity-numbers allows.
    rng = random.Random(15)
    checked = 0
    for text, region in CORPUS[::3]:
        digits_at = [index for index, char in enumerate(text) if char.isdigit()]
        if len(digits_at) < 4:
            continue
        at = rng.choice(digits_at[1:])
        lettered = text[:at] + rng.choice(
            "ABCDFGHJKLMNOPQRSTUVWYZabcdfghz"
        )  # no "x": an extension + text[at + 1 :]
        assert parse_plain(lettered, region) is None, lettered
        refused = normalize(lettered, region)
        assert isinstance(refused, PhoneError), lettered
        assert refused.reason is RejectReason.LETTERS_IN_NUMBER, (lettered, refused)
        vanity = normalize(lettered, region, vanity=True)
        written = "+" + lettered[2:] if lettered.startswith("00") else lettered
        try:
            number = phonenumbers.parse(written, region)
            valid = phonenumbers.is_valid_number(number)
        except phonenumbers.NumberParseException:
            valid = False
        assert isinstance(vanity, ParsedPhone) == valid, (lettered, region, vanity)
        if isinstance(vanity, ParsedPhone):
            assert vanity.e164 == phonenumbers.format_number(number, PhoneNumberFormat.E164)
        checked += 1
    assert checked > 200
