"""Turning whatever an operator's export put in the phone cell into one dialable E.164 number.

Exports are messy: separators of every kind, ``00`` or ``tel:`` prefixes, extensions, Excel's
leading apostrophe, and numbers Excel has already mangled into floats. The rules here accept
what can be recovered exactly and reject what cannot, because dialling a wrong number is worse
than skipping a row.

This runs once per row of files with millions of rows, so it returns a result value instead of
raising and keeps no per-number cache (numbers in a file are nearly all distinct).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat
from phonenumbers.timezone import time_zones_for_number

from campaign_engine.contacts.reasons import RejectReason

MAX_RAW_LENGTH = 32
"""Longer cells are notes or several numbers in one cell, never one phone number."""

_UNKNOWN_TIMEZONE = "Etc/Unknown"
_NON_GEOGRAPHIC_REGIONS = frozenset({"001", "ZZ"})

# Excel turns long digit strings into floats; once shown as 9.19876543210E+11 the trailing
# digits are gone, so such a cell can never be trusted, whatever libphonenumber makes of it.
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+")
# A float column written back out (pandas, some CRMs) keeps every digit but appends ".0";
# left alone, libphonenumber reads it as one more digit, which can be another valid number.
_FLOAT_SUFFIX = re.compile(r"(\+?\d+)\.0+")
_MULTI_VALUE = " ::: "
_TEL_PREFIX = re.compile(r"tel:\s*", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ParsedPhone:
    """A number that passed validation; ``region`` is None for non-geographic (+800 etc.)."""

    e164: str
    region: str | None
    timezones: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PhoneError:
    reason: RejectReason
    detail: str


def check_region(region: str | None) -> str | None:
    """Validate a default region once, up front, so a typo does not reject every row.

    Returns the upper-cased ISO 3166 code, or None. Raises ValueError for an unknown code.
    """
    if region is None or not region.strip():
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown default region {region!r}: use an ISO 3166 two-letter code such as IN or US"
        )
    return code


def normalize(raw: str, default_region: str | None) -> ParsedPhone | PhoneError:
    """Parse one phone cell; ``default_region`` applies to numbers with no country code.

    ``default_region`` is expected to have passed ``check_region`` (the caller does it once
    per file, not per row).
    """
    text = original = raw.strip()
    if not text:
        return PhoneError(RejectReason.MISSING_PHONE, "the phone cell is empty")
    if _MULTI_VALUE in text:
        # Google Contacts puts every number of a kind in one cell; the first is the primary.
        text = text.split(_MULTI_VALUE, 1)[0].strip()
    if len(text) > MAX_RAW_LENGTH:
        return PhoneError(
            RejectReason.TOO_LONG,
            f"{len(text)} characters; a phone cell holds at most {MAX_RAW_LENGTH}",
        )
    text = _clean(text)
    if _SCIENTIFIC.fullmatch(text):
        return PhoneError(
            RejectReason.INVALID_NUMBER,
            f"{original!r} is a spreadsheet number in scientific notation and has lost "
            "digits; format the column as text in the source and export again",
        )

    try:
        number = phonenumbers.parse(text, default_region)
    except NumberParseException as exc:
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not default_region:
            detail = f"{original!r} has no country code and no default region was given"
        else:
            reason = str(exc).split(") ", 1)[-1].rstrip(".")
            detail = f"{original!r} is not a phone number: {reason}"
        return PhoneError(RejectReason.INVALID_NUMBER, detail)

    if not phonenumbers.is_valid_number(number):
        return PhoneError(
            RejectReason.INVALID_NUMBER,
            f"{original!r} is not a valid number"
            + (f" (read as {_e164(number)})" if number.country_code else ""),
        )

    region = phonenumbers.region_code_for_number(number)
    zones = time_zones_for_number(number)
    if _UNKNOWN_TIMEZONE in zones:
        zones = tuple(zone for zone in zones if zone != _UNKNOWN_TIMEZONE)
    return ParsedPhone(
        e164=_e164(number),
        region=None if region is None or region in _NON_GEOGRAPHIC_REGIONS else region,
        timezones=tuple(zones),  # already a tuple: no copy
    )


def _clean(text: str) -> str:
    """Undo the export artefacts libphonenumber does not know about."""
    if text[0] == "'":  # Excel's "treat as text" marker
        text = text[1:].lstrip()
    if text[:4].lower() == "tel:":
        text = _TEL_PREFIX.sub("", text, count=1)
    float_form = _FLOAT_SUFFIX.fullmatch(text)
    if float_form:
        text = float_form.group(1)
    # "00" is the international prefix nearly everywhere, but libphonenumber only honours the
    # default region's own prefix (011 for US), so "0091..." with region US would be misread.
    if text.startswith("00"):
        text = "+" + text[2:]
    return text


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return str(phonenumbers.format_number(number, PhoneNumberFormat.E164))
