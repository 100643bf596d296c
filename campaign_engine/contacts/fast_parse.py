"""Reading plain digit strings without libphonenumber's general parser, with the same result.

``phonenumbers.parse`` accepts anything a person might type (letters, Unicode digits,
extensions, RFC 3966 URIs) and pays for that on every call: it is ~90% of the cost of
validating a number, and a million-row import validates a million numbers. Nearly every cell in
a real export is far plainer: digits with spaces, dashes, dots or parentheses, perhaps a
leading ``+``. For those, ``parse`` does only three things that matter: take the country code
(after a ``+``) or the default region's, strip a national prefix, and mark Italian leading
zeros. ``parse_plain`` does the first itself and *declines* (returns None) whenever one of the
other steps, or an international dialling prefix, could apply; the caller then uses ``parse``.
So the fast path only ever produces a number ``parse`` would have produced too (a test
compares them over every region), and every unusual cell still gets the full parser and its
exact error message.

Only public phonenumbers API is used: the country-code table and region metadata, whose
patterns are compiled once per region or calling code (``_Rules``). The result is a plain
``(country code, national number)`` pair, which ``number_facts.facts_of`` takes as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    PhoneMetadata,
    region_code_for_country_code,
)

# Separators parse() ignores; anything else (letters, "/", "#", ";", a second "+") declines.
_SEPARATORS = str.maketrans("", "", " -.()\u00a0")
_MIN_DIGITS = 4  # shorter strings are never valid numbers; parse() words their error
_MIN_NATIONAL_DIGITS = 2  # parse() rejects shorter national numbers as TOO_SHORT_NSN
_MAX_NATIONAL_DIGITS = 17  # and longer ones as TOO_LONG
_MAX_COUNTRY_CODE_DIGITS = 3

Matcher = Callable[[str], "re.Match[str] | None"]


class _Rules(NamedTuple):
    """What parse() would look at in one region's (or calling code's) metadata."""

    country_code: int
    national_prefix: Matcher | None
    """``match`` of the national prefix (trunk 0, carrier codes): parse() would strip it."""
    international_prefix: Matcher | None
    """``match`` of the region's international dialling prefix (for national input)."""


def _matcher(pattern: str | None) -> Matcher | None:
    return re.compile(pattern).match if pattern else None


def _rules(metadata: PhoneMetadata | None) -> _Rules | None:
    if metadata is None or metadata.country_code is None:
        return None
    return _Rules(
        metadata.country_code,
        _matcher(metadata.national_prefix_for_parsing),
        _matcher(metadata.international_prefix),
    )


_by_code: dict[str, _Rules | None] = {}
_by_region: dict[str, _Rules | None] = {}


def _for_code(code: str) -> _Rules | None:
    """The rules for a (known) calling code written after "+"."""
    if code not in _by_code:
        number = int(code)
        _by_code[code] = _rules(
            PhoneMetadata.metadata_for_region_or_calling_code(
                number, region_code_for_country_code(number)
            )
        )
    return _by_code[code]


def _for_region(region: str) -> _Rules | None:
    if region not in _by_region:
        _by_region[region] = _rules(PhoneMetadata.metadata_for_region(region))
    return _by_region[region]


def parse_plain(text: str, default_region: str | None) -> tuple[int, str] | None:
    """``(country code, national number)`` of the number ``parse(text, default_region)``
    would return, or None to use ``parse``.

    The national number is returned as its digits (never with a leading zero, so it is also
    the national significant number). ``default_region`` must already be an upper-case
    supported region (or None).
    """
    digits = text.translate(_SEPARATORS)
    international = digits.startswith("+")
    if international:
        digits = digits[1:]
    if len(digits) < _MIN_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    if digits[0] == "0":
        return None
    if international:
        for size in range(1, _MAX_COUNTRY_CODE_DIGITS + 1):
            if int(digits[:size]) in COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        rules = _for_code(digits[:size])
        national = digits[size:]
    else:
        if default_region is None:
            return None
        rules = _for_region(default_region)
        if rules is None:
            return None
        # parse() would try these digits as an international prefix, or as the default
        # region's country code written without "+"; both are its decisions to make.
        if rules.international_prefix is not None and rules.international_prefix(digits):
            return None
        if digits.startswith(str(rules.country_code)):
            return None
        national = digits
    if rules is None or not _MIN_NATIONAL_DIGITS <= len(national) <= _MAX_NATIONAL_DIGITS:
        return None
    # A national prefix (trunk 0, carrier codes) or an Italian leading zero: parse() decides.
    prefix = rules.national_prefix
    if national[0] == "0" or (prefix is not None and prefix(national)):
        return None
    return rules.country_code, national
