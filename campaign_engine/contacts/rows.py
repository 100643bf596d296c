"""Deciding, row by row, what is imported and what goes back to the operator.

This is the file-only half of an import: everything decidable without the database (the phone
number, variable sizes, duplicates within the file). The database side adds
``duplicate_in_campaign`` and ``suppressed`` afterwards. Rows stream through one at a time;
a rejected row carries its original cells so the reject report can be fixed and re-imported.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from campaign_engine.contacts.columns import ColumnMapping
from campaign_engine.contacts.csv_source import Record
from campaign_engine.contacts.phone import PhoneError, check_region, normalize
from campaign_engine.contacts.reasons import RejectReason

DEFAULT_MAX_VARIABLE_LENGTH = 1000


@dataclass(frozen=True, slots=True)
class Accepted:
    line: int
    e164: str
    region: str | None
    timezones: tuple[str, ...]
    variables: dict[str, str]


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    reason: RejectReason
    detail: str
    raw: dict[str, str]
    """The row as it was, keyed by the file's header, so it can be written back out."""


def validate_rows(
    source: Iterable[Record],
    mapping: ColumnMapping,
    default_region: str | None,
    *,
    max_variable_length: int = DEFAULT_MAX_VARIABLE_LENGTH,
) -> Iterator[Accepted | Rejected]:
    """Yield one Accepted or Rejected per non-blank record of ``source``, in file order.

    ``default_region`` applies to numbers written without a country code; an unknown code
    raises ValueError here, before any row is read. The first row with a given number is
    accepted and later ones are ``duplicate_in_file``.

    Memory: the numbers seen so far are kept as a set of ints (E.164 digits never start with
    0, so the int is exact), about 60 bytes per accepted row: ~60 MB for a million rows,
    which is the one thing that grows with the file.
    """
    region = check_region(default_region)
    if max_variable_length < 1:
        raise ValueError("max_variable_length must be positive")
    return _validate(source, mapping, region, max_variable_length)


def _validate(
    source: Iterable[Record], mapping: ColumnMapping, region: str | None, max_length: int
) -> Iterator[Accepted | Rejected]:
    headers = mapping.headers
    phone_index = mapping.phone_index
    variables = mapping.variables
    seen: set[int] = set()
    for line, fields, problem, detail in source:
        if problem is not None:
            yield Rejected(line, problem, detail, dict(zip(headers, fields, strict=False)))
            continue

        parsed = normalize(fields[phone_index], region)
        if isinstance(parsed, PhoneError):
            yield Rejected(
                line, parsed.reason, parsed.detail, dict(zip(headers, fields, strict=False))
            )
            continue

        values: dict[str, str] = {}
        for index, name in variables:
            value = fields[index].strip()
            if len(value) > max_length:
                yield Rejected(
                    line,
                    RejectReason.VARIABLE_TOO_LONG,
                    f"column {headers[index]!r} has {len(value)} characters; "
                    f"at most {max_length} are allowed",
                    dict(zip(headers, fields, strict=False)),
                )
                break
            values[name] = value
        else:
            key = int(parsed.e164[1:])
            if key in seen:
                yield Rejected(
                    line,
                    RejectReason.DUPLICATE_IN_FILE,
                    f"{parsed.e164} already appears on an earlier row",
                    dict(zip(headers, fields, strict=False)),
                )
                continue
            seen.add(key)
            yield Accepted(line, parsed.e164, parsed.region, parsed.timezones, values)
