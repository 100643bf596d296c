"""What libphonenumber knows about a parsed number: valid or not, its region, its time zones.

The public functions each recompute the same things: ``is_valid_number``, ``number_type``
and ``time_zones_for_number`` all compute the number's type, and each looks the region up
first (for +1 or +44, by computing the type against each region sharing the code). On a
million-row import that is the dominant cost, so here each is done once, and cheaply:

- The type is libphonenumber's rule (``_number_type_helper``): the general pattern must match,
  then the first of premium rate, toll free, shared cost, VoIP, personal, pager, UAN,
  voicemail, fixed line, mobile whose pattern matches (each only at its possible lengths)
  decides, with fixed line and mobile merged when both match. Per region and national-number
  length, that whole rule is compiled into *one* regular expression over the metadata's own
  patterns, in the same order (``_KindTable``), instead of a dozen calls per number.
- The region is found as ``region_code_for_number`` finds it (a region's leading digits, or
  else the first region the number is valid in), reusing the type computed on the way.
- Validity is "the type is not UNKNOWN" (``is_valid_number``'s test), and the time zones come
  from the prefix table ``time_zones_for_number`` reads.

Only public metadata is read. A test checks every answer against the public functions over
every region's example numbers of every type, perturbed and random.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple

from phonenumbers import (
    COUNTRY_CODE_TO_REGION_CODE,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberType,
    is_number_type_geographical,
    national_significant_number,
)
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

_UNKNOWN_TIMEZONE = "Etc/Unknown"
_NON_GEOGRAPHIC_REGIONS = frozenset({"001", "ZZ"})
_UNKNOWN = PhoneNumberType.UNKNOWN
# The order libphonenumber tests the types in; the first that matches decides.
_TYPE_ORDER = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
    ("fixed_line", PhoneNumberType.FIXED_LINE),
    ("mobile", PhoneNumberType.MOBILE),
)

Matcher = Callable[[str], "re.Match[str] | None"]


class NumberFacts(NamedTuple):
    """A valid number's facts; ``region`` is None for non-geographic numbers (+800 etc.)."""

    e164: str
    region: str | None
    timezones: tuple[str, ...]
    kind: int
    """The ``PhoneNumberType`` (never UNKNOWN: such a number is not valid)."""


def e164_of(number: PhoneNumber) -> str:
    return f"+{number.country_code}{national_significant_number(number)}"


def _pattern(metadata: PhoneMetadata, field: str, length: int) -> str | None:
    """The pattern of one number description, or None if it cannot match at ``length``."""
    desc = getattr(metadata, field)
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return str(desc.national_number_pattern)


class _Rule(NamedTuple):
    """The type rule of one region at one national-number length."""

    match: Matcher | None
    """One alternative per type, in libphonenumber's order; None when nothing can match."""
    kinds: dict[int, int]
    """Which type each alternative (by group number) stands for."""
    mobile: Matcher | None
    """For a fixed-line match, whether it is also a mobile number (fixed line or mobile)."""


class _KindTable:
    """``kind(national)`` is ``_number_type_helper(national, metadata)``, one regex per call."""

    def __init__(self, metadata: PhoneMetadata) -> None:
        self._metadata = metadata
        self._rules: dict[int, _Rule] = {}

    def kind(self, national: str) -> int:
        rule = self._rules.get(len(national))
        if rule is None:
            rule = self._rules[len(national)] = self._compile(len(national))
        if rule.match is None:
            return _UNKNOWN
        found = rule.match(national)
        if found is None:
            return _UNKNOWN
        kind = rule.kinds[found.lastindex or 0]
        if kind == PhoneNumberType.FIXED_LINE and (
            self._metadata.same_mobile_and_fixed_line_pattern
            or (rule.mobile is not None and rule.mobile(national))
        ):
            return PhoneNumberType.FIXED_LINE_OR_MOBILE
        return kind

    def _compile(self, length: int) -> _Rule:
        metadata = self._metadata
        general = _pattern(metadata, "general_desc", length)
        mobile = _pattern(metadata, "mobile", length)
        alternatives: list[tuple[int, str]] = []
        for field, kind in _TYPE_ORDER:
            # With identical fixed-line and mobile patterns, a mobile-only match does not
            # count: libphonenumber only tests mobile when the patterns differ.
            if kind == PhoneNumberType.MOBILE and metadata.same_mobile_and_fixed_line_pattern:
                continue
            pattern = _pattern(metadata, field, length)
            if pattern is not None:
                alternatives.append((kind, pattern))
        if general is None or not alternatives:
            return _Rule(None, {}, None)
        # Each alternative is one outer group; the metadata's patterns have no groups of
        # their own, which the compiled group count confirms (else the mapping would shift).
        body = "|".join(f"({pattern})" for _, pattern in alternatives)
        compiled = re.compile(f"(?=(?:{general})\\Z)(?:{body})")
        if compiled.groups != len(alternatives):  # pragma: no cover - new metadata style
            raise RuntimeError(f"unexpected groups in the {metadata.id} number patterns")
        kinds = {index: kind for index, (kind, _) in enumerate(alternatives, start=1)}
        return _Rule(compiled.fullmatch, kinds, re.compile(mobile).fullmatch if mobile else None)


class _Candidate(NamedTuple):
    region: str
    table: _KindTable
    leading_digits: Matcher | None
    """``match`` of the region's leading-digits pattern, which settles the region alone."""


_countries: dict[int, tuple[bool, tuple[_Candidate, ...]]] = {}


def _candidates(country_code: int) -> tuple[bool, tuple[_Candidate, ...]]:
    """Whether the code has one region, and its regions as ``region_code_for_number`` tries
    them (leaving out any without metadata)."""
    found = _countries.get(country_code)
    if found is not None:
        return found
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    candidates: list[_Candidate] = []
    for region in regions:
        if len(regions) == 1:  # the one region, taken without a test
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        else:
            metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
        if metadata is None:
            continue
        leading = metadata.leading_digits if len(regions) > 1 else None
        candidates.append(
            _Candidate(region, _KindTable(metadata), re.compile(leading).match if leading else None)
        )
    _countries[country_code] = result = (len(regions) == 1, tuple(candidates))
    return result


def facts(number: PhoneNumber) -> NumberFacts | None:
    """The facts of ``number``, or None if it is not a valid number."""
    if number.country_code is None:
        return None
    return facts_of(number.country_code, national_significant_number(number))


def facts_of(country_code: int, national: str) -> NumberFacts | None:
    """The facts of the number with this country code and national significant number."""
    found = _region_and_kind(country_code, national)
    if found is None or found[1] == _UNKNOWN:
        return None
    region, kind = found
    e164 = f"+{country_code}{national}"
    # Geographic numbers by their longest known prefix, others (mobiles in most countries)
    # by their country code, as time_zones_for_number() does.
    geographic = is_number_type_geographical(kind, country_code)
    return NumberFacts(
        e164,
        None if region in _NON_GEOGRAPHIC_REGIONS else region,
        _zones(e164[1:] if geographic else str(country_code)),
        kind,
    )


def _region_and_kind(country_code: int, national: str) -> tuple[str, int] | None:
    """The number's region, as ``region_code_for_number`` finds it, and its type there."""
    single, candidates = _candidates(country_code)
    if single and candidates:
        region, table, _ = candidates[0]
        return region, table.kind(national)
    for region, table, leading_digits in candidates:
        if leading_digits is not None:
            if leading_digits(national):
                return region, table.kind(national)
        else:
            kind = table.kind(national)
            if kind != _UNKNOWN:
                return region, kind
    return None  # no region (or none the number is valid in)


def _zones(digits: str) -> tuple[str, ...]:
    for size in range(min(TIMEZONE_LONGEST_PREFIX, len(digits)), 0, -1):
        zones = TIMEZONE_DATA.get(digits[:size])
        if zones is not None:
            if _UNKNOWN_TIMEZONE in zones:
                return tuple(zone for zone in zones if zone != _UNKNOWN_TIMEZONE)
            return tuple(zones)  # already a tuple: no copy
    return ()
