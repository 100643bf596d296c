from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from campaign_engine.contacts.columns import ColumnMapping
from campaign_engine.contacts.csv_chunks import CsvChunk
from campaign_engine.contacts.csv_source import Record, open_csv
from campaign_engine.contacts.payloads import sqlite_payload
from campaign_engine.contacts.reject_reasons import RejectReason
from campaign_engine.contacts.row_checks import (
    Accepted,
    CheckedChunk,
    FirstSeen,
    Refused,
    Rejected,
    RowPlan,
    check_chunk,
    validate_rows,
    variables_json,
)


def run(
    tmp_path: Path, data: bytes, region: str | None = "IN", max_variable_length: int = 1000
) -> list[Accepted | Rejected]:
    path = tmp_path / "contacts.csv"
    path.write_bytes(data)
    with open_csv(path) as source:
        mapping = ColumnMapping.build(source.header)
        rows = validate_rows(source, mapping, region, max_variable_length=max_variable_length)
        return list(rows)


def test_accepted_row_has_e164_region_zones_and_stripped_variables(tmp_path: Path) -> None:
    [row] = run(tmp_path, b"Phone,Name,City\n98765 43210,  Asha  ,\n")
    assert row == Accepted(
        line=2,
        e164="+919876543210",
        region="IN",
        timezones=("Asia/Calcutta",),
        variables={"name": "Asha", "city": ""},
    )


def test_default_region_applies_only_to_numbers_without_country_code(tmp_path: Path) -> None:
    rows = run(tmp_path, b"phone\n9876543210\n+1 650 253 0000\n")
    assert [r.e164 for r in rows if isinstance(r, Accepted)] == ["+919876543210", "+16502530000"]


def test_second_row_with_the_same_number_is_duplicate_in_file(tmp_path: Path) -> None:
    rows = run(tmp_path, b"phone,name\n9876543210,A\n+91 98765-43210,B\n09876543210,C\n")
    assert isinstance(rows[0], Accepted)
    assert [(r.line, r.reason) for r in rows[1:] if isinstance(r, Rejected)] == [
        (3, RejectReason.DUPLICATE_IN_FILE),
        (4, RejectReason.DUPLICATE_IN_FILE),
    ]


def test_a_rejected_row_does_not_claim_its_number(tmp_path: Path) -> None:
    data = b"phone,name\n9876543210," + b"x" * 20 + b"\n9876543210,ok\n"
    rows = run(tmp_path, data, max_variable_length=10)
    assert isinstance(rows[0], Rejected) and rows[0].reason is RejectReason.VARIABLE_TOO_LONG
    assert isinstance(rows[1], Accepted)


def test_rejected_raw_is_the_original_row_keyed_by_original_header(tmp_path: Path) -> None:
    [row] = run(tmp_path, b"  Phone Number , First Name \nnot a phone,  Asha \n")
    assert isinstance(row, Rejected)
    assert row == Rejected(
        line=2,
        reason=RejectReason.INVALID_NUMBER,
        detail=row.detail,
        raw={"Phone Number": "not a phone", "First Name": "  Asha "},
    )


def test_phone_reasons_come_through(tmp_path: Path) -> None:
    data = b"phone,name\n,a\n9.19876543210E+11,b\n" + b"9" * 40 + b",c\n"
    rows = run(tmp_path, data)
    assert [r.reason for r in rows if isinstance(r, Rejected)] == [
        RejectReason.MISSING_PHONE,
        RejectReason.INVALID_NUMBER,
        RejectReason.TOO_LONG,
    ]


def test_variable_longer_than_the_limit_is_variable_too_long(tmp_path: Path) -> None:
    rows = run(tmp_path, b"phone,note\n9876543210," + b"n" * 1001 + b"\n9876543211," + b"n" * 1000)
    assert isinstance(rows[0], Rejected)
    assert rows[0].reason is RejectReason.VARIABLE_TOO_LONG
    assert "'note'" in rows[0].detail
    assert isinstance(rows[1], Accepted)


def test_reader_problems_become_rejects_and_the_rest_is_imported(tmp_path: Path) -> None:
    data = "phone,name\n9876543210,José\n".encode() + b"9876543211,Bad\xff\n9876543212,a,b\n"
    rows = run(tmp_path, data + b"9876543213,Fine\n")
    assert [(r.line, type(r).__name__) for r in rows] == [
        (2, "Accepted"),
        (3, "Rejected"),
        (4, "Rejected"),
        (5, "Accepted"),
    ]
    assert [r.reason for r in rows if isinstance(r, Rejected)] == [
        RejectReason.BAD_ENCODING,
        RejectReason.TOO_MANY_COLUMNS,
    ]
    assert rows[1].raw == {"phone": "9876543211", "name": "Bad\ufffd"}  # type: ignore[union-attr]


def test_records_from_any_iterable_work() -> None:
    mapping = ColumnMapping.build(["phone", "name"])
    rows = list(validate_rows([Record(7, ["+16502530000", "Al"])], mapping, None))
    assert rows == [Accepted(7, "+16502530000", "US", ("America/Los_Angeles",), {"name": "Al"})]


def test_unknown_default_region_fails_before_any_row_is_read() -> None:
    mapping = ColumnMapping.build(["phone"])

    def never() -> Iterator[Record]:
        raise AssertionError("rows were read")
        yield

    with pytest.raises(ValueError, match="unknown default region"):
        validate_rows(never(), mapping, "XX")


def test_excluded_and_underscore_columns_are_not_variables(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(b"phone,name,ssn,_line\n9876543210,A,123,4\n")
    with open_csv(path) as source:
        mapping = ColumnMapping.build(source.header, exclude={"ssn"})
        [row] = validate_rows(source, mapping, "IN")
    assert isinstance(row, Accepted) and row.variables == {"name": "A"}


def test_chunk_checks_give_what_the_one_process_validation_gives(tmp_path: Path) -> None:
    data = (
        b"Phone,Name\n98765 43210,Asha\n12345,Bad\n,Empty\n+1 201 555 0123,Tom\n98765 43210,Again\n"
        b"1,2,3\n"
    )
    serial = run(tmp_path, data)
    with open_csv(tmp_path / "contacts.csv") as source:
        plan = RowPlan.build(ColumnMapping.build(source.header), "IN")
        layout = source.layout
        chunk = CsvChunk(2, source.bytes_after_header().read())
    with open_csv(tmp_path / "contacts.csv") as source:
        records = list(source)

    for work in (chunk, records):
        accepted, refused = check_chunk(work, plan, layout, sqlite_payload)
        first_seen, outcomes = FirstSeen(), {}
        for line, e164, payload, text in accepted:
            assert text == ("" if work is records else data.decode().splitlines(True)[line - 1])
            stored = json.loads(payload)
            outcome = first_seen.refusal(e164) or (line, *stored[1:3], *map(json.loads, stored[3:]))
            outcomes[line] = outcome
        for line, reason, detail, _ in refused:
            outcomes[line] = Refused(reason, detail)
        assert [outcomes[row.line] for row in serial] == [
            (row.line, row.e164, row.region, list(row.timezones), row.variables)
            if isinstance(row, Accepted)
            else Refused(row.reason, row.detail)
            for row in serial
        ]


def test_refused_rows_keep_their_cells_for_the_report() -> None:
    plan = RowPlan.build(ColumnMapping.build(["phone", "name"]), "IN")
    checked = check_chunk([Record(5, ["12345", "Bad"])], plan, None, sqlite_payload)
    assert checked == CheckedChunk(
        [],
        [
            (
                5,
                RejectReason.INVALID_NUMBER,
                "'12345' is not a valid number (read as +9112345)",
                ["12345", "Bad"],
            )
        ],
    )


@pytest.mark.parametrize(
    "values",
    [{}, {"name": "Asha"}, {"name": 'Zoë "Z" \\ 日本\n\t', "city": "", "plan": "\u2028"}],
)
def test_variables_json_is_exactly_what_json_dumps_writes(values: dict[str, str]) -> None:
    assert variables_json(values) == json.dumps(values)


def test_letters_in_the_phone_cell_are_refused_unless_the_plan_reads_vanity_numbers(
    tmp_path: Path,
) -> None:
    data = b"Phone,Name\n98765abcde,Typo\n9876543210,Asha\n"
    typo, asha = run(tmp_path, data)
    assert isinstance(typo, Rejected) and typo.reason is RejectReason.LETTERS_IN_NUMBER
    assert isinstance(asha, Accepted)

    with open_csv(tmp_path / "contacts.csv") as source:
        mapping = ColumnMapping.build(source.header)
        rows = list(validate_rows(source, mapping, "IN", vanity_numbers=True))
    assert [row.e164 for row in rows if isinstance(row, Accepted)] == [
        "+919876522233",
        "+919876543210",
    ]

    # The worker-process path reads the plan's setting, not a default of its own.
    records = [Record(2, ["98765abcde", "Typo"])]
    strict = RowPlan.build(ColumnMapping.build(["phone", "name"]), "IN")
    vanity = RowPlan.build(ColumnMapping.build(["phone", "name"]), "IN", vanity_numbers=True)
    refused = check_chunk(records, strict, None, sqlite_payload).refused
    assert [(line, reason) for line, reason, _, _ in refused] == [
        (2, RejectReason.LETTERS_IN_NUMBER)
    ]
    assert [
        e164 for _, e164, _, _ in check_chunk(records, vanity, None, sqlite_payload).accepted
    ] == ["+919876522233"]
