"""``number_facts`` gives exactly what libphonenumber's public functions give.

Its type rule is compiled into one regular expression per region and length, and its region
lookup reuses that rule, so every answer is compared with ``number_type``,
``is_valid_number``, ``region_code_for_number`` and ``time_zones_for_number``: over every
region's (and non-geographic entity's) example number of every type, the same with digits
changed, one digit more and one fewer, for every country code shared by several regions too.
"""

from __future__ import annotations

import random

import phonenumbers
from phonenumbers import PhoneNumber, PhoneNumberType
from phonenumbers.timezone import time_zones_for_number

from campaign_engine.contacts.number_facts import facts, facts_of

ALL_TYPES = tuple(
    value for name, value in vars(PhoneNumberType).items() if name.isupper() and name != "UNKNOWN"
)


def examples() -> list[PhoneNumber]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in ALL_TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                found.append(example)
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        example = phonenumbers.example_number_for_non_geo_entity(code)
        if example is not None:
            found.append(example)
    return found


def variants(number: PhoneNumber, rng: random.Random) -> list[PhoneNumber]:
    """The number, with digits changed, and one digit longer and shorter."""
    digits = str(number.national_number)
    changed = "".join(rng.choice("0123456789") if rng.random() < 0.3 else d for d in digits)
    forms = [digits, changed, digits + rng.choice("0123456789"), digits[:-1]]
    forms += [str(rng.randrange(10 ** (len(digits) - 1), 10 ** len(digits))) for _ in range(3)]
    return [
        PhoneNumber(country_code=number.country_code, national_number=int(form))
        for form in forms
        if form and form[0] != "0"
    ]


CORPUS = [variant for example in examples() for variant in variants(example, random.Random(7))]


def test_the_corpus_covers_every_type_and_shared_country_codes() -> None:
    kinds = {phonenumbers.number_type(number) for number in CORPUS}
    assert kinds >= set(ALL_TYPES) | {PhoneNumberType.UNKNOWN}
    shared = {code for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items()}
    shared = {c for c in shared if len(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[c]) > 1}
    assert shared <= {number.country_code for number in CORPUS}


def test_type_validity_region_and_zones_agree_with_the_public_functions() -> None:
    valid = 0
    for number in CORPUS:
        known = facts(number)
        if not phonenumbers.is_valid_number(number):
            assert known is None, number
            continue
        valid += 1
        assert known is not None, number
        assert known.kind == phonenumbers.number_type(number), number
        assert known.e164 == phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        region = phonenumbers.region_code_for_number(number)
        assert known.region == (None if region in ("001", "ZZ") else region), number
        zones = tuple(zone for zone in time_zones_for_number(number) if zone != "Etc/Unknown")
        assert known.timezones == zones, number
    assert valid > 2000


def test_a_country_code_no_region_has_gives_no_facts() -> None:
    assert facts_of(999, "123456789") is None
    assert facts(PhoneNumber(national_number=9876543210)) is None
