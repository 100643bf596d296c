"""Deciding, row by row, what is imported and what goes back to the operator.

This is the file-only half of an import: everything decidable without the database (the phone
number, variable sizes, duplicates within the file). The database side adds
``duplicate_in_campaign`` and ``suppressed`` afterwards. A rejected row carries its original
cells so the reject report can be fixed and re-imported.

The per-row checks (``check_fields``) are pure and need only a ``RowPlan``, so a large import
runs them in worker processes over chunks of the file (``check_chunk``), which also encode
each accepted row for the database; only the in-file duplicate check (``FirstSeen``) must see
every row in file order, and stays with the caller.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import NamedTuple

from campaign_engine.contacts.columns import ColumnMapping
from campaign_engine.contacts.csv_chunks import CsvChunk, parse_chunk
from campaign_engine.contacts.csv_source import CsvFormatError, CsvLayout, Record
from campaign_engine.contacts.payloads import Encoded, Encoder, encoder_for
from campaign_engine.contacts.phone import PhoneError, check_region, normalize
from campaign_engine.contacts.reject_reasons import RejectReason

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


class RowPlan(NamedTuple):
    """What the per-row checks need, small and picklable (sent once to each worker)."""

    headers: tuple[str, ...]
    phone_index: int
    variables: tuple[tuple[int, str], ...]
    region: str | None
    max_variable_length: int = DEFAULT_MAX_VARIABLE_LENGTH
    vanity_numbers: bool = False
    """Read letters in a number as keypad digits (else they are ``letters_in_number``)."""

    @classmethod
    def build(
        cls,
        mapping: ColumnMapping,
        default_region: str | None,
        max_variable_length: int = DEFAULT_MAX_VARIABLE_LENGTH,
        *,
        vanity_numbers: bool = False,
    ) -> RowPlan:
        """Raises ValueError for an unknown region or a bad limit, before any row is read."""
        if max_variable_length < 1:
            raise ValueError("max_variable_length must be positive")
        return cls(
            mapping.headers,
            mapping.phone_index,
            mapping.variables,
            check_region(default_region),
            max_variable_length,
            vanity_numbers,
        )


class Refused(NamedTuple):
    reason: RejectReason
    detail: str


def check_fields(
    fields: list[str], plan: RowPlan
) -> tuple[str, str | None, tuple[str, ...], dict[str, str]] | Refused:
    """The phone number and variables of one record, or why it is refused."""
    parsed = normalize(fields[plan.phone_index], plan.region, vanity=plan.vanity_numbers)
    if isinstance(parsed, PhoneError):
        return Refused(parsed.reason, parsed.detail)
    values: dict[str, str] = {}
    for index, name in plan.variables:
        value = fields[index].strip()
        if len(value) > plan.max_variable_length:
            return Refused(
                RejectReason.VARIABLE_TOO_LONG,
                f"column {plan.headers[index]!r} has {len(value)} characters; "
                f"at most {plan.max_variable_length} are allowed",
            )
        values[name] = value
    return parsed.e164, parsed.region, parsed.timezones, values


_zones_json: dict[tuple[str, ...], str] = {}


def variables_json(values: dict[str, str]) -> str:
    """Exactly ``json.dumps(values)`` for a dict of strings, at a third of the cost (a million
    rows pay it a million times)."""
    text = encode_basestring_ascii
    return "{" + ", ".join([f"{text(name)}: {text(value)}" for name, value in values.items()]) + "}"


Work = CsvChunk | list[Record]
"""A unit of checking: a chunk of a CSV file's bytes, or records from a database source."""


class CheckedChunk(NamedTuple):
    """The verdict on a chunk, each list in line order."""

    accepted: list[Encoded]
    refused: list[tuple[int, RejectReason, str, list[str]]]
    """``(line, reason, detail, cells)`` of each row refused here (by the reader or a check)."""


def check_chunk(
    work: Work, plan: RowPlan, layout: CsvLayout | None, encode: Encoder
) -> CheckedChunk:
    """``check_fields`` over a chunk; accepted rows come out as database payloads.

    This is what worker processes run. A CSV chunk is parsed here too (``layout`` says how),
    and each accepted row keeps its text, the one thing of it the importing process holds.
    """
    if isinstance(work, CsvChunk):
        assert layout is not None
        found = parse_chunk(work, layout)
    else:
        found = [(record, "") for record in work]
    accepted: list[Encoded] = []
    refused: list[tuple[int, RejectReason, str, list[str]]] = []
    for (line, fields, problem, detail), text in found:
        if problem is not None:  # the reader refused it
            refused.append((line, problem, detail, fields))
            continue
        checked = check_fields(fields, plan)
        if isinstance(checked, Refused):
            refused.append((line, checked.reason, checked.detail, fields))
            continue
        e164, region, zones, values = checked
        zones_json = _zones_json.get(zones)
        if zones_json is None:  # a few hundred distinct zone lists exist at most
            zones_json = _zones_json[zones] = json.dumps(list(zones))
        payload = encode(line, e164, region, zones_json, variables_json(values))
        accepted.append((line, e164, payload, text))
    return CheckedChunk(accepted, refused)


class Setup(NamedTuple):
    """What every chunk of one import is checked with."""

    plan: RowPlan
    layout: CsvLayout | None
    """How to read CSV chunks (None for a database source)."""
    dialect: str
    """The database the accepted rows are encoded for (``payloads``)."""

    def check(self, work: Work) -> CheckedChunk | CsvFormatError:
        try:
            return check_chunk(work, self.plan, self.layout, encoder_for(self.dialect))
        except CsvFormatError as exc:
            return exc


class FirstSeen:
    """The in-file duplicate check: the first row with a number wins, later ones are refused.

    Memory: the numbers are kept as a set of ints (E.164 digits never start with 0, so the int
    is exact), about 60 bytes per accepted row: ~60 MB for a million rows, which is the one
    thing that grows with the file.
    """

    def __init__(self) -> None:
        self._seen: set[int] = set()

    def is_first(self, e164: str) -> bool:
        """True the first time ``e164`` is offered (and remember it), else False."""
        key = int(e164[1:])
        if key in self._seen:
            return False
        self._seen.add(key)
        return True

    def refusal(self, e164: str) -> Refused | None:
        """None the first time ``e164`` is offered (and remember it), else why it is refused."""
        return None if self.is_first(e164) else repeated(e164)


def repeated(e164: str) -> Refused:
    return Refused(RejectReason.DUPLICATE_IN_FILE, f"{e164} already appears on an earlier row")


def validate_rows(
    source: Iterable[Record],
    mapping: ColumnMapping,
    default_region: str | None,
    *,
    max_variable_length: int = DEFAULT_MAX_VARIABLE_LENGTH,
    vanity_numbers: bool = False,
) -> Iterator[Accepted | Rejected]:
    """Yield one Accepted or Rejected per non-blank record of ``source``, in file order.

    ``default_region`` applies to numbers written without a country code; an unknown code
    raises ValueError here, before any row is read. The first row with a given number is
    accepted and later ones are ``duplicate_in_file``. Letters in a number are
    ``letters_in_number`` unless ``vanity_numbers``. (The importer does the same in
    parallel chunks; this is the one-process form.)
    """
    plan = RowPlan.build(
        mapping, default_region, max_variable_length, vanity_numbers=vanity_numbers
    )
    return _validate(source, plan)


def _validate(source: Iterable[Record], plan: RowPlan) -> Iterator[Accepted | Rejected]:
    first_seen = FirstSeen()
    for line, fields, problem, detail in source:
        checked: tuple[str, str | None, tuple[str, ...], dict[str, str]] | Refused
        checked = Refused(problem, detail) if problem is not None else check_fields(fields, plan)
        if not isinstance(checked, Refused):
            checked = first_seen.refusal(checked[0]) or checked
        if isinstance(checked, Refused):
            raw = dict(zip(plan.headers, fields, strict=False))
            yield Rejected(line, checked.reason, checked.detail, raw)
        else:
            e164, region, zones, values = checked
            yield Accepted(line, e164, region, zones, values)
