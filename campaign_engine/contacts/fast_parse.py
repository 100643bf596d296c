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

Only public phonenumbers API is used: the country-code table, region metadata and
``PhoneNumber``.
"""

from __future__ import annotations

import re

from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    PhoneMetadata,
    PhoneNumber,
    region_code_for_country_code,
)

# Separators parse() ignores; anything else (letters, "/", "#", ";", a second "+") declines.
_SEPARATORS = str.maketrans("", "", " -.()\u00a0")
_MIN_DIGITS = 4  # shorter strings are never valid numbers; parse() words their error
_MIN_NATIONAL_DIGITS = 2  # parse() rejects shorter national numbers as TOO_SHORT_NSN
_MAX_NATIONAL_DIGITS = 17  # and longer ones as TOO_LONG
_MAX_COUNTRY_CODE_DIGITS = 3

_patterns: dict[str, re.Pattern[str]] = {}


def _starts_with(pattern: str | None, digits: str) -> bool:
    """Whether ``digits`` begin with a match of a metadata pattern (anchored like parse())."""
    if not pattern:
        return False
    compiled = _patterns.get(pattern)
    if compiled is None:
        compiled = _patterns[pattern] = re.compile(pattern)
    return compiled.match(digits) is not None


def parse_plain(text: str, default_region: str | None) -> PhoneNumber | None:
    """The number ``parse(text, default_region)`` would return, or None to use ``parse``.

    ``default_region`` must already be an upper-case supported region (or None).
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
            country_code = int(digits[:size])
            if country_code in COUNTRY_CODE_TO_REGION_CODE:
                break
        else:
            return None
        national = digits[size:]
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(
            country_code, region_code_for_country_code(country_code)
        )
    else:
        if default_region is None:
            return None
        metadata = PhoneMetadata.metadata_for_region(default_region)
        if metadata is None:
            return None
        # parse() would try these digits as an international prefix, or as the default
        # region's country code written without "+"; both are its decisions to make.
        if _starts_with(metadata.international_prefix, digits):
            return None
        if metadata.country_code is None or digits.startswith(str(metadata.country_code)):
            return None
        country_code = metadata.country_code
        national = digits
    if metadata is None or not _MIN_NATIONAL_DIGITS <= len(national) <= _MAX_NATIONAL_DIGITS:
        return None
    # A national prefix (trunk 0, carrier codes) or an Italian leading zero: parse() decides.
    if national[0] == "0" or _starts_with(metadata.national_prefix_for_parsing, national):
        return None
    return PhoneNumber(country_code=country_code, national_number=int(national))
