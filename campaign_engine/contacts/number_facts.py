"""What libphonenumber knows about a parsed number: valid or not, its region, its time zones.

The public functions each recompute the same things: ``is_valid_number``, ``number_type``
and ``time_zones_for_number`` all compute the number's type (a dozen regular expressions),
and each looks the region up first (for +1 or +44, by testing the number against every
region sharing the code). On a million-row import that triples the dominant cost, so here the
region is looked up once, the type computed once from it, and validity (type is not UNKNOWN,
exactly ``is_valid_number``'s test) and time zones (the same prefix table
``time_zones_for_number`` reads) derived from those. A test checks the results against the
public functions over every region.

The type is computed with libphonenumber's own helper, given the region's metadata; should a
future version rename it, ``number_type`` (public, one more region lookup) is used instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from phonenumbers import (
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberType,
    is_number_type_geographical,
    national_significant_number,
    number_type,
    phonenumberutil,
    region_code_for_number,
)
from phonenumbers.tzdata import TIMEZONE_DATA, TIMEZONE_LONGEST_PREFIX

_UNKNOWN_TIMEZONE = "Etc/Unknown"
_NON_GEOGRAPHIC_REGIONS = frozenset({"001", "ZZ"})

_type_for_metadata: Callable[[str, PhoneMetadata], int] | None = getattr(
    phonenumberutil, "_number_type_helper", None
)


class NumberFacts(NamedTuple):
    """A valid number's facts; ``region`` is None for non-geographic numbers (+800 etc.)."""

    e164: str
    region: str | None
    timezones: tuple[str, ...]


def e164_of(number: PhoneNumber) -> str:
    return f"+{number.country_code}{national_significant_number(number)}"


def facts(number: PhoneNumber) -> NumberFacts | None:
    """The facts of ``number``, or None if it is not a valid number."""
    country_code = number.country_code
    if country_code is None:
        return None
    national = national_significant_number(number)
    region = region_code_for_number(number)
    if region is None:  # no region has this country code: no metadata, so UNKNOWN
        return None
    if _type_for_metadata is None:  # pragma: no cover - only on a future phonenumbers
        kind = number_type(number)
    else:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        if metadata is None:
            return None
        kind = _type_for_metadata(national, metadata)
    if kind == PhoneNumberType.UNKNOWN:
        return None
    e164 = f"+{country_code}{national}"
    # Geographic numbers by their longest known prefix, others (mobiles in most countries)
    # by their country code, as time_zones_for_number() does.
    geographic = is_number_type_geographical(kind, country_code)
    return NumberFacts(
        e164,
        None if region in _NON_GEOGRAPHIC_REGIONS else region,
        _zones(e164[1:] if geographic else str(country_code)),
    )


def _zones(digits: str) -> tuple[str, ...]:
    for size in range(min(TIMEZONE_LONGEST_PREFIX, len(digits)), 0, -1):
        zones = TIMEZONE_DATA.get(digits[:size])
        if zones is not None:
            if _UNKNOWN_TIMEZONE in zones:
                return tuple(zone for zone in zones if zone != _UNKNOWN_TIMEZONE)
            return tuple(zones)  # already a tuple: no copy
    return ()
