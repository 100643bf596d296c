"""Cutting a file into byte chunks and parsing them apart gives exactly the file's records.

The cut must fall where the csv module starts a record, whatever the file holds: quoted
fields with line ends and doubled quotes inside, quotes in the middle of unquoted fields,
text after a closing quote, "\\r\\n", bare "\\r" and "\\n" line ends, blank lines, a
byte-order mark, bytes that are not valid UTF-8. So random files made of those pieces are read
whole (``CsvSource``) and in chunks of many sizes, and must give the same records, line
numbers and reader-side rejections.
"""

from __future__ import annotations

import codecs
import random
from pathlib import Path

import pytest

from campaign_engine.contacts.csv_chunks import (
    CsvChunk,
    byte_chunks_possible,
    cut_chunks,
    fields_of_text,
    parse_chunk,
)
from campaign_engine.contacts.csv_source import CsvFormatError, CsvLayout, Record, open_csv
from campaign_engine.contacts.reject_reasons import RejectReason

PIECES = [
    b"a",
    b"9876",
    b" ",
    b",",
    b",",
    b'"',
    b'""',
    b'"x,y"',
    b"\n",
    b"\r\n",
    b"\r",
    b"\xc3\xa9",
]
PIECES += [b"\xff", b'"multi\nline"', b"\n\n", b"'", b'tail"q']


def random_file(rng: random.Random) -> bytes:
    header = rng.choice([b"phone,name,city\n", b"\n\nphone,name\r\n", b"phone\r"])
    body = b"".join(rng.choice(PIECES) for _ in range(rng.randint(0, 120)))
    return rng.choice([b"", codecs.BOM_UTF8]) + header + body


def whole(path: Path) -> list[Record]:
    with open_csv(path) as source:
        return list(source)


def in_chunks(path: Path, size: int) -> list[tuple[Record, str]]:
    with open_csv(path) as source:
        layout = source.layout
        assert byte_chunks_possible(layout)
        chunks = cut_chunks(source.bytes_after_header(), source.header_line + 1, size, layout)
        return [found for chunk in list(chunks) for found in parse_chunk(chunk, layout)]


def test_random_files_give_the_same_records_in_chunks_of_any_size(tmp_path: Path) -> None:
    rng = random.Random(11)
    path = tmp_path / "random.csv"
    compared = 0
    for _ in range(400):
        path.write_bytes(random_file(rng))
        try:
            expected = whole(path)
        except CsvFormatError:
            continue
        with open_csv(path) as source:
            layout = source.layout
        for size in (1, 2, 3, 7, 16, 64, 100_000):
            found = in_chunks(path, size)
            assert [record for record, _ in found] == expected, (path.read_bytes(), size)
            for record, text in found:
                if record.problem is None:
                    assert fields_of_text(text, layout) == record.fields
        compared += 1
    assert compared > 300


def test_the_chunks_hold_every_byte_after_the_header_once(tmp_path: Path) -> None:
    data = b"\xef\xbb\xbf\r\nphone,name\r\n" + b"".join(
        b'%d,"n\r\n%d"\r\n' % (i, i) for i in range(50)
    )
    path = tmp_path / "list.csv"
    path.write_bytes(data)
    with open_csv(path) as source:
        chunks = list(cut_chunks(source.bytes_after_header(), 3, 10, source.layout))
    assert len(chunks) > 10
    assert (
        b"".join(chunk.data for chunk in chunks) == data[len(b"\xef\xbb\xbf\r\nphone,name\r\n") :]
    )
    assert [chunk.first_line for chunk in chunks[:3]] == [3, 5, 7]


def test_a_quote_left_open_is_the_same_format_error_naming_its_line(tmp_path: Path) -> None:
    path = tmp_path / "open.csv"
    path.write_bytes(b'phone,note\n1,ok\n2,"never closed\n' + b"x" * 200_000 + b"\n")
    found = []
    with open_csv(path) as source, pytest.raises(CsvFormatError, match="line 3"):
        for chunk in cut_chunks(source.bytes_after_header(), 2, 8, source.layout):
            found += parse_chunk(chunk, source.layout)
    assert [record.line for record, _ in found] == [2]


def test_a_quote_never_closed_before_the_end_is_the_same_error_as_in_the_whole_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "open.csv"
    path.write_bytes(b'phone,note\n1,ok\n2,"never closed\n3,x\n')
    for size in (1, 8, 100_000):
        with pytest.raises(CsvFormatError, match="line 3: a quoted field opened here"):
            in_chunks(path, size)


def test_undecodable_bytes_are_rejected_as_in_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes("phone,name\n1,José\n2,Jos\xe9\n".encode()[:-7] + b"Jos\xe9\n")
    [good, bad] = in_chunks(path, 4)
    assert good[0] == Record(2, ["1", "José"])
    assert bad[0].problem == RejectReason.BAD_ENCODING and bad[0].line == 3


def test_only_files_whose_special_bytes_mean_nothing_else_are_cut_as_bytes() -> None:
    def layout(encoding: str, delimiter: str = ",") -> CsvLayout:
        return CsvLayout("f.csv", encoding, delimiter, ("phone",))

    assert byte_chunks_possible(layout("utf-8")) and byte_chunks_possible(layout("utf-8-sig"))
    assert byte_chunks_possible(layout("cp1252", ";")) and byte_chunks_possible(layout("latin-1"))
    assert not byte_chunks_possible(layout("utf-16"))
    assert not byte_chunks_possible(layout("utf-16-le"))
    assert not byte_chunks_possible(layout("shift_jis"))
    assert not byte_chunks_possible(layout("utf-8", '"'))


def test_a_chunk_is_parsed_from_its_own_first_line() -> None:
    layout = CsvLayout("f.csv", "utf-8", ",", ("phone", "name"))
    found = parse_chunk(CsvChunk(40, b'1,a\n\n2,"b\nc"\n3\n'), layout)
    assert [(record.line, text) for record, text in found] == [
        (40, "1,a\n"),
        (42, '2,"b\nc"\n'),
        (44, "3\n"),
    ]
    assert found[2][0].fields == ["3", ""]
