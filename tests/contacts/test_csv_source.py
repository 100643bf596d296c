from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from campaign_engine.contacts.csv_source import (
    SAMPLE_BYTES,
    CsvFormatError,
    Record,
    detect_encoding,
    open_csv,
    sniff_delimiter,
)
from campaign_engine.contacts.reject_reasons import RejectReason


def write(tmp_path: Path, data: bytes, name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_all(
    path: Path, *, encoding: str | None = None, delimiter: str | None = None
) -> tuple[list[str], list[Record]]:
    with open_csv(path, encoding=encoding, delimiter=delimiter) as source:
        return source.header, list(source)


def test_utf8_bom_is_not_part_of_the_first_header(tmp_path: Path) -> None:
    path = write(tmp_path, codecs.BOM_UTF8 + "phone,name\n9876543210,José\n".encode())
    with open_csv(path) as source:
        assert source.encoding == "utf-8-sig"
        assert source.header == ["phone", "name"]
        assert list(source) == [Record(2, ["9876543210", "José"])]


def test_utf8_bom_is_stripped_even_when_utf8_is_given_explicitly(tmp_path: Path) -> None:
    path = write(tmp_path, codecs.BOM_UTF8 + b"phone,name\n1,a\n")
    assert read_all(path, encoding="UTF8")[0] == ["phone", "name"]


def test_utf8_without_bom(tmp_path: Path) -> None:
    path = write(tmp_path, "phone,name\n1,Zoë\n".encode())
    with open_csv(path) as source:
        assert source.encoding == "utf-8"
        assert [r.fields for r in source] == [["1", "Zoë"]]


@pytest.mark.parametrize(
    ("bom", "codec"),
    [(codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be")],
)
def test_utf16_with_bom_either_byte_order(tmp_path: Path, bom: bytes, codec: str) -> None:
    # Excel's "Unicode Text" export: UTF-16 LE with a BOM, tab separated.
    text = "Phone\tName\r\n9876543210\tJosé\r\n9876543211\t日本\r\n"
    header, records = read_all(write(tmp_path, bom + text.encode(codec)))
    assert header == ["Phone", "Name"]
    assert records == [Record(2, ["9876543210", "José"]), Record(3, ["9876543211", "日本"])]


def test_utf16_le_without_bom_is_recognised_by_its_nul_bytes(tmp_path: Path) -> None:
    path = write(tmp_path, "phone,name\n1,José\n".encode("utf-16-le"))
    with open_csv(path) as source:
        assert source.encoding == "utf-16-le"
        assert [r.fields for r in source] == [["1", "José"]]


def test_cp1252_e_acute_byte_e9_is_decoded_as_cp1252(tmp_path: Path) -> None:
    path = write(tmp_path, b"phone,name,note\r\n9876543210,Jos\xe9,\x80 5\r\n")
    with open_csv(path) as source:
        assert source.encoding == "cp1252"
        assert [r.fields for r in source] == [["9876543210", "José", "€ 5"]]


def test_encoding_override_wins_over_detection(tmp_path: Path) -> None:
    path = write(tmp_path, "phone,name\n1,José\n".encode())
    # Read as Latin-1 on purpose: the UTF-8 bytes of é are two Latin-1 characters.
    assert read_all(path, encoding="latin-1")[1][0].fields == ["1", "JosÃ©"]


def test_unknown_encoding_override_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="unknown encoding 'klingon'"):
        open_csv(write(tmp_path, b"phone\n1\n"), encoding="klingon")


def test_invalid_utf8_byte_rejects_that_row_and_the_rest_is_read(tmp_path: Path) -> None:
    data = "phone,name\n1,José\n2,Zoë\n".encode() + b"3,Bad\xff Name\n" + "4,Łukasz\n".encode()
    _header, records = read_all(write(tmp_path, data))
    assert [r.line for r in records] == [2, 3, 4, 5]
    bad = records[2]
    assert bad.problem is RejectReason.BAD_ENCODING
    assert bad.fields == ["3", "Bad\ufffd Name"]
    assert "'name'" in bad.detail and "\\xff" in bad.detail
    assert [r.problem for r in records if r is not bad] == [None, None, None]
    assert records[3].fields == ["4", "Łukasz"]


def test_invalid_utf8_byte_beyond_the_detection_sample_is_one_rejected_row(
    tmp_path: Path,
) -> None:
    rows = b"".join(b"%d,Name %d\n" % (i, i) for i in range(SAMPLE_BYTES // 8))
    data = b"phone,name\n" + rows + b"99,Bad\xe9\n100,Fine\n"
    _header, records = read_all(write(tmp_path, data))
    assert records[-2].problem is RejectReason.BAD_ENCODING
    assert records[-1] == Record(records[-2].line + 1, ["100", "Fine"])
    assert sum(r.problem is not None for r in records) == 1


def test_detect_encoding_prefers_cp1252_when_no_valid_multibyte_sequence() -> None:
    assert detect_encoding(b"Jos\xe9,Andr\xe9", complete=True) == "cp1252"
    assert detect_encoding("José,André".encode() + b"\xff", complete=True) == "utf-8"
    assert detect_encoding("José".encode() + b"\xff", complete=True) == "utf-8"
    assert detect_encoding("José".encode() + b"\xff\xfe", complete=True) == "cp1252"
    assert detect_encoding(b"plain ascii", complete=True) == "utf-8"


def test_detect_encoding_ignores_a_character_cut_at_the_end_of_the_sample() -> None:
    assert detect_encoding("José".encode()[:-1], complete=False) == "utf-8"


@pytest.mark.parametrize("delimiter", [";", "\t", "|", ","])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    text = f"phone{delimiter}name{delimiter}city\n1{delimiter}Ann{delimiter}Pune\n"
    with open_csv(write(tmp_path, text.encode())) as source:
        assert source.delimiter == delimiter
        assert source.header == ["phone", "name", "city"]
        assert [r.fields for r in source] == [["1", "Ann", "Pune"]]


def test_semicolon_file_with_commas_inside_values(tmp_path: Path) -> None:
    # European Excel: semicolons, decimal commas, and commas in free text.
    text = 'phone;name;amount\n1;"Doe, John";12,50\n2;Roe, Jane;3,00\n'
    with open_csv(write(tmp_path, text.encode())) as source:
        assert source.delimiter == ";"
        assert [r.fields for r in source] == [
            ["1", "Doe, John", "12,50"],
            ["2", "Roe, Jane", "3,00"],
        ]


def test_delimiter_override(tmp_path: Path) -> None:
    path = write(tmp_path, b"phone;name\n1;a,b\n")
    header, _records = read_all(path, delimiter=",")
    assert header == ["phone;name"]


@pytest.mark.parametrize("given", ["tab", "TAB", "\\t", "\t"])
def test_a_tab_delimiter_can_be_named_as_a_shell_passes_it(tmp_path: Path, given: str) -> None:
    header, records = read_all(write(tmp_path, b"phone\tname\n1\tA, B\n"), delimiter=given)
    assert (header, records[0].fields) == (["phone", "name"], ["1", "A, B"])


def test_single_column_file_without_any_delimiter(tmp_path: Path) -> None:
    header, records = read_all(write(tmp_path, b"phone\n9876543210\n9876543211\n"))
    assert header == ["phone"]
    assert [r.fields for r in records] == [["9876543210"], ["9876543211"]]


def test_sniff_falls_back_to_the_delimiter_splitting_the_header_most() -> None:
    assert sniff_delimiter("phone|name|city\n") == "|"
    assert sniff_delimiter("phone\n") == ","
    assert sniff_delimiter("") == ","


def test_quoted_embedded_newline_keeps_physical_line_numbers(tmp_path: Path) -> None:
    text = 'phone,note\n1,"first line\nsecond line\nthird"\n2,plain\n3,"a\r\nb"\n4,x\n'
    _header, records = read_all(write(tmp_path, text.encode()))
    assert [(r.line, r.fields[0]) for r in records] == [(2, "1"), (5, "2"), (6, "3"), (8, "4")]
    assert records[0].fields[1] == "first line\nsecond line\nthird"


def test_crlf_line_endings_leave_no_carriage_returns(tmp_path: Path) -> None:
    header, records = read_all(write(tmp_path, b"phone,name\r\n1,Ann\r\n2,Bob\r\n"))
    assert header == ["phone", "name"]
    assert records == [Record(2, ["1", "Ann"]), Record(3, ["2", "Bob"])]


def test_blank_lines_and_empty_cell_rows_are_skipped_but_counted(tmp_path: Path) -> None:
    text = b"\nphone,name\n\n1,Ann\n,\n  ,  \n\r\n2,Bob\n\n"
    with open_csv(write(tmp_path, text)) as source:
        assert source.header_line == 2
        assert list(source) == [Record(4, ["1", "Ann"]), Record(8, ["2", "Bob"])]


def test_trailing_empty_columns_are_ignored_in_header_and_rows(tmp_path: Path) -> None:
    text = b"phone,name,,,\n1,Ann,,,\n2,Bob\n3,Cy,, ,\n"
    header, records = read_all(write(tmp_path, text))
    assert header == ["phone", "name"]
    assert [r.fields for r in records] == [["1", "Ann"], ["2", "Bob"], ["3", "Cy"]]
    assert all(r.problem is None for r in records)


def test_short_rows_are_padded_with_empty_values(tmp_path: Path) -> None:
    _header, records = read_all(write(tmp_path, b"phone,name,city\n1\n"))
    assert records == [Record(2, ["1", "", ""])]


def test_values_beyond_the_header_are_too_many_columns(tmp_path: Path) -> None:
    _header, records = read_all(write(tmp_path, b"phone,name\n1,Ann,extra,\n2,Bob\n"))
    assert records[0].problem is RejectReason.TOO_MANY_COLUMNS
    assert records[0].fields == ["1", "Ann"]
    assert "'extra'" in records[0].detail
    assert records[1] == Record(3, ["2", "Bob"])


def test_header_names_are_stripped(tmp_path: Path) -> None:
    header, _ = read_all(write(tmp_path, b"  Phone Number ,\tName\t\n1,a\n"))
    assert header == ["Phone Number", "Name"]


def test_empty_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="no header row"):
        open_csv(write(tmp_path, b"\n\n , \n"))


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64, "spreadsheet workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "Excel 97-2003 workbook"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF document"),
        (b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00", "binary file"),
    ],
)
def test_a_file_that_is_not_text_is_refused_saying_what_it_is(
    tmp_path: Path, data: bytes, kind: str
) -> None:
    with pytest.raises(CsvFormatError, match=f"not CSV text: it looks like a {kind}"):
        open_csv(write(tmp_path, data, "contacts.xlsx"))


def test_a_workbook_is_refused_even_with_an_explicit_encoding(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="save it as CSV"):
        open_csv(write(tmp_path, b"PK\x03\x04" + b"\x00" * 64), encoding="cp1252")


def test_unclosed_quote_is_a_format_error_naming_the_line(tmp_path: Path) -> None:
    data = b'phone,note\n1,ok\n2,"never closed\n' + b"x" * 200_000 + b"\n"
    with open_csv(write(tmp_path, data)) as source:
        records = iter(source)
        assert next(records).line == 2
        with pytest.raises(CsvFormatError, match="line 3"):
            next(records)


def test_a_quote_never_closed_is_an_error_not_the_rest_of_the_file_read_into_one_field(
    tmp_path: Path,
) -> None:
    data = b'phone,name\n9800000014,ok\n9800000015,"unclosed\n9800000016,b\n'
    records = []
    with (
        open_csv(write(tmp_path, data)) as source,
        pytest.raises(CsvFormatError, match=r"line 3: a quoted field opened here is never closed"),
    ):
        records.extend(source)
    assert [record.line for record in records] == [2]


def test_a_last_line_without_its_line_end_is_read(tmp_path: Path) -> None:
    _, records = read_all(write(tmp_path, b'phone,name\n1,"a ""b"" c"'))
    assert [record.fields for record in records] == [["1", 'a "b" c']]


def test_the_file_is_read_incrementally(tmp_path: Path) -> None:
    rows = b"".join(b"%d,name\n" % i for i in range(200_000))
    path = write(tmp_path, b"phone,name\n" + rows)
    with open_csv(path) as source:
        first = next(iter(source))
        assert first == Record(2, ["0", "name"])
        assert source.bytes_read < path.stat().st_size // 4
