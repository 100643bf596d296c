from __future__ import annotations

import csv
from pathlib import Path

import pytest

from campaign_engine.contacts import reject_report
from campaign_engine.contacts.columns import ColumnMapping
from campaign_engine.contacts.csv_source import open_csv
from campaign_engine.contacts.reject_reasons import RejectReason
from campaign_engine.contacts.reject_report import refuse_overwriting_source, write_reject_report
from campaign_engine.contacts.row_checks import Accepted, Rejected, validate_rows
from campaign_engine.results import cells


def import_file(path: Path, **options: object) -> tuple[list[str], list[Accepted | Rejected]]:
    with open_csv(path) as source:
        mapping = ColumnMapping.build(source.header, **options)  # type: ignore[arg-type]
        return source.header, list(validate_rows(source, mapping, "IN"))


def test_report_has_original_columns_then_line_reason_detail(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes("Phone;Name;SSN\r\n12;José;1\r\n9876543210;Ann;2\r\n".encode())
    header, rows = import_file(source, exclude={"SSN"})
    report = tmp_path / "rejects.csv"
    assert write_reject_report(report, header, [r for r in rows if isinstance(r, Rejected)]) == 1

    assert report.read_bytes().startswith(b"\xef\xbb\xbf")  # so Excel reads it as UTF-8
    with report.open(encoding="utf-8-sig", newline="") as file:
        assert list(csv.reader(file)) == [
            ["Phone", "Name", "SSN", "_line", "_reason", "_detail"],
            ["12", "José", "1", "2", "invalid_number", rows[0].detail],  # type: ignore[union-attr]
        ]


def test_fixed_report_reimports_as_it_is(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        'Phone Number,First Name,Note\n98765 4321,Asha,"two\nlines"\n9876543211,Ravi,ok\n',
        encoding="utf-8",
    )
    header, rows = import_file(source)
    rejects = [r for r in rows if isinstance(r, Rejected)]
    assert [r.reason for r in rejects] == [RejectReason.INVALID_NUMBER]

    report = tmp_path / "rejects.csv"
    write_reject_report(report, header, rejects)
    # The operator fixes the phone cell in a spreadsheet and saves.
    with report.open(encoding="utf-8-sig", newline="") as file:
        table = list(csv.reader(file))
    table[1][0] = "98765 43210"
    with report.open("w", encoding="utf-8-sig", newline="") as file:
        csv.writer(file).writerows(table)

    _, again = import_file(report)
    assert again == [
        Accepted(
            line=2,
            e164="+919876543210",
            region="IN",
            timezones=("Asia/Calcutta",),
            variables={"first_name": "Asha", "note": "two\nlines"},
        )
    ]


def test_report_of_a_report_keeps_one_set_of_annotation_columns(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("phone,name\nbad,A\n", encoding="utf-8")
    header, rows = import_file(source)
    first = tmp_path / "rejects1.csv"
    write_reject_report(first, header, rows)  # type: ignore[arg-type]

    header2, rows2 = import_file(first)
    assert header2 == ["phone", "name", "_line", "_reason", "_detail"]
    second = tmp_path / "rejects2.csv"
    write_reject_report(second, header2, rows2)  # type: ignore[arg-type]
    with second.open(encoding="utf-8-sig", newline="") as file:
        table = list(csv.reader(file))
    assert table[0] == ["phone", "name", "_line", "_reason", "_detail"]
    assert table[1][:4] == ["bad", "A", "2", "invalid_number"]


def test_undecodable_row_is_written_with_replacement_characters(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"\xef\xbb\xbfphone,name\n9876543210,Bad\xff\n")
    header, rows = import_file(source)
    report = tmp_path / "rejects.csv"
    write_reject_report(report, header, rows)  # type: ignore[arg-type]
    text = report.read_text(encoding="utf-8-sig")
    assert "9876543210,Bad\ufffd,2,bad_encoding," in text


def test_a_report_over_the_file_being_read_is_refused_by_any_path_to_it(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("phone\n1\n", encoding="utf-8")
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.csv").symlink_to(source)

    for same in (source, tmp_path / "sub" / ".." / "in.csv", tmp_path / "link.csv"):
        with pytest.raises(ValueError, match="is the file being imported"):
            refuse_overwriting_source(same, source)
    refuse_overwriting_source(tmp_path / "rejects.csv", source)  # another file: fine
    refuse_overwriting_source(None, source)  # no report: fine


def test_report_cells_that_could_start_a_formula_are_neutralised_as_in_the_results_export(
    tmp_path: Path,
) -> None:
    header = ["phone", "name", "note"]
    rejected = Rejected(
        2,
        RejectReason.INVALID_NUMBER,
        "=1+1 is not a number",
        {"phone": "=1+1", "name": "@SUM(A1:A9)", "note": "\u00a0-2+3+cmd|' /C calc'!A0"},
    )
    plain = Rejected(
        3, RejectReason.DUPLICATE_IN_CAMPAIGN, "already", {"phone": "+919876543210", "name": "Asha"}
    )
    report = tmp_path / "rejects.csv"
    write_reject_report(report, header, [rejected, plain])

    with report.open(encoding="utf-8-sig", newline="") as file:
        table = list(csv.reader(file))
    assert table[1:] == [
        [
            "'=1+1",
            "'@SUM(A1:A9)",
            "'\u00a0-2+3+cmd|' /C calc'!A0",
            "2",
            "invalid_number",
            "'=1+1 is not a number",
        ],
        ["+919876543210", "Asha", "", "3", "duplicate_in_campaign", "already"],
    ]
    assert reject_report.neutralise is cells.neutralise  # one guard, shared


def test_a_neutralised_phone_cell_still_reimports(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("phone,name\n+91 98765 43210,Asha\n+91 98765 43210,Again\n", "utf-8")
    header, rows = import_file(source)
    report = tmp_path / "rejects.csv"
    write_reject_report(report, header, [r for r in rows if isinstance(r, Rejected)])
    assert report.read_text(encoding="utf-8-sig").splitlines()[1].startswith("'+91 98765 43210,")

    _, again = import_file(report)
    assert [row.e164 for row in again if isinstance(row, Accepted)] == ["+919876543210"]
