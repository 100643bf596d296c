"""Turning whatever an operator's export put in the phone cell into one dialable E.164 number.

Exports are messy: separators of every kind, ``00`` or ``tel:`` prefixes, extensions, Excel's
leading apostrophe, and numbers Excel has already mangled into floats. The rules here accept
what can be recovered exactly and reject what cannot, because dialling a wrong number is worse
than skipping a row.

This runs once per row of files with millions of rows, so it returns a result value instead of
raising and keeps no per-number cache (numbers in a file are nearly all distinct). It also does
each piece of libphonenumber's work once: plain digit strings skip the general parser
(``fast_parse``), and validity, region and time zones come from one computation of the
number's type (``number_facts``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException

from campaign_engine.contacts.fast_parse import parse_plain
from campaign_engine.contacts.number_facts import e164_of, facts, facts_of
from campaign_engine.contacts.reject_reasons import RejectReason

MAX_RAW_LENGTH = 32
"""Longer cells are notes or several numbers in one cell, never one phone number."""

# Excel turns long digit strings into floats; once shown as 9.19876543210E+11 the trailing
# digits are gone, so such a cell can never be trusted, whatever libphonenumber makes of it.
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:[.,]\d*)?[eE][+-]?\d+")
# A float column written back out (pandas, some CRMs) keeps every digit but appends ".0";
# left alone, libphonenumber reads it as one more digit, which can be another valid number.
_FLOAT_SUFFIX = re.compile(r"(\+?\d+)\.0+")
_MULTI_VALUE = " ::: "
_TEL_PREFIX = re.compile(r"tel:\s*", re.IGNORECASE)
# Where libphonenumber starts reading a number: text before it ("Mobile: ") is a label.
_NUMBER_START = re.compile(r"[+\uff0b\d]")
# A trailing extension and its marker (the forms libphonenumber reads: "ext. 12", "x12",
# "extension 5", "anexo 3", "#9", ";ext=5"...): letters in the marker are not in the number.
_EXTENSION = re.compile(
    r"(?:;ext=\d{1,20}"
    r"|[\s,]*(?:e?xt(?:ensi[oó]n|n)?|anexo|доб)[.:]?[\s,-]*\d{1,20}#?"
    r"|[\s,]*(?:x|int|[#~])[.:]?[\s,-]*\d{1,9}#?)\s*\Z",
    re.IGNORECASE,
)
# Fewer digits before it and it is no extension ("+2X75601234" is a typo, not +2 ext. 75…).
_MIN_DIGITS_BEFORE_EXTENSION = 4
_LETTER = re.compile(r"[^\W\d_]")


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


def normalize(
    raw: str, default_region: str | None, *, vanity: bool = False
) -> ParsedPhone | PhoneError:
    """Parse one phone cell; ``default_region`` applies to numbers with no country code.

    ``default_region`` is expected to have passed ``check_region`` (the caller does it once
    per file, not per row). Letters in the number are ``letters_in_number`` unless
    ``vanity``: libphonenumber reads them as keypad digits (1-800-FLOWERS), which is right
    for a vanity number and dials a stranger for a typo ("98765abcde").
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
    if ("e" in text or "E" in text) and _SCIENTIFIC.fullmatch(text):
        return PhoneError(
            RejectReason.INVALID_NUMBER,
            f"{original!r} is a spreadsheet number in scientific notation and has lost "
            "digits; format the column as text in the source and export again",
        )

    # The fast path is trusted for valid numbers only: anything else gets the full parser,
    # so an invalid cell is described exactly as parse() sees it. The fast path declines
    # every cell with a letter in it, so the letter check below decides for both paths.
    plain = parse_plain(text, default_region)
    known = None if plain is None else facts_of(*plain)
    if known is None:
        if not vanity and has_letters_in_number(text):
            return PhoneError(
                RejectReason.LETTERS_IN_NUMBER,
                f"{original!r} has letters in the number; they are read as keypad digits "
                "only for vanity numbers (contacts import --vanity-numbers), since a typo "
                "read that way is someone else's number",
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
        known = facts(number)
        if known is None:
            read_as = f" (read as {e164_of(number)})" if number.country_code else ""
            return PhoneError(
                RejectReason.INVALID_NUMBER, f"{original!r} is not a valid number{read_as}"
            )
    return ParsedPhone(known.e164, known.region, known.timezones)


def has_letters_in_number(text: str) -> bool:
    """Whether a letter stands among the digits of the number (not in a label before it or
    an extension marker after it): the letters libphonenumber would read as keypad digits,
    or drop."""
    start = _NUMBER_START.search(text)
    if start is None:
        return False
    number = text[start.start() :]
    extension = _EXTENSION.search(number)
    if extension is not None:
        before = number[: extension.start()]
        if sum(char.isdigit() for char in before) >= _MIN_DIGITS_BEFORE_EXTENSION:
            number = before
    return _LETTER.search(number) is not None


def _clean(text: str) -> str:
    """Undo the export artefacts libphonenumber does not know about."""
    if text[0] == "'":  # Excel's "treat as text" marker
        text = text[1:].lstrip()
    if text[:4].lower() == "tel:":
        text = _TEL_PREFIX.sub("", text, count=1)
    if "." in text and (float_form := _FLOAT_SUFFIX.fullmatch(text)):
        text = float_form.group(1)
    # "00" is the international prefix nearly everywhere, but libphonenumber only honours the
    # default region's own prefix (011 for US), so "0091..." with region US would be misread.
    if text.startswith("00"):
        text = "+" + text[2:]
    return text
