"""Cutting a CSV file into chunks of whole records as bytes, so other processes parse them.

Reading and splitting CSV is a good part of an import's work per row, and the process that
reads the file also deduplicates, reports and writes; so that process only cuts the file into
chunks of whole records (cheap byte searches), and the checking workers decode and parse them
(``parse_chunk``) with the same code that reads a whole file (``csv_source.to_record``). Every
record, line number and error comes out as iterating the whole file gives it.

A cut is only made where the csv module would start a new record: after a line end that is
not inside a quoted field, and never between the two bytes of a "\\r\\n". Without a quote
character in the bytes, every line end is such a place; otherwise ``_RECORDS``, a regular
expression of the csv module's (non-strict, excel) grammar, finds the last complete record.
This needs an encoding in which those bytes only ever stand for those characters: UTF-8 and
the 8-bit code pages (``byte_chunks_possible``); other files are read whole, as before.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

from campaign_engine.contacts.csv_source import (
    ERRORS,
    CsvFormatError,
    CsvLayout,
    Record,
    format_error,
    record_grammar,
    to_record,
    unclosed_quote_error,
)

_SPECIAL = b'\n\r"'


class CsvChunk(NamedTuple):
    first_line: int
    """The file's line number of the chunk's first line."""
    data: bytes


def byte_chunks_possible(layout: CsvLayout) -> bool:
    """Whether the file can be cut as bytes: line ends, quotes and the delimiter are single
    bytes that mean nothing else (UTF-8, or an 8-bit encoding)."""
    name = _codec(layout.encoding)
    eight_bit = len(bytes(range(256)).decode(name, errors="replace")) == 256
    delimiter = layout.delimiter.encode(name, errors="replace")
    return (
        (name == "utf-8" or eight_bit)
        and len(delimiter) == 1
        and delimiter not in _SPECIAL
        and all(char.encode(name) == char.encode("ascii") for char in '\n\r"')
    )


def _codec(encoding: str) -> str:
    """The codec for bytes after the header (the byte-order mark, if any, came before)."""
    name = codecs.lookup(encoding).name
    return "utf-8" if name == "utf-8-sig" else name


def _records_pattern(delimiter: bytes) -> re.Pattern[bytes]:
    """``record_grammar`` over bytes (the delimiter is one byte, see
    ``byte_chunks_possible``; latin-1 maps each byte to the character of that number)."""
    return re.compile(record_grammar(delimiter.decode("latin-1")).encode("latin-1"))


def _cut(data: bytes, records: re.Pattern[bytes]) -> int:
    """Where the last complete record of ``data`` ends (0 if none does), with more to come:
    a "\\r" at the very end may be the first half of a "\\r\\n"."""
    usable = data[:-1] if data.endswith(b"\r") else data
    if b'"' not in usable:
        after_newline = usable.rfind(b"\n") + 1
        return max(after_newline, usable.rfind(b"\r", after_newline) + 1)
    found = records.match(usable)
    return found.end() if found else 0


def _lines_in(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def cut_chunks(raw: BinaryIO, first_line: int, size: int, layout: CsvLayout) -> Iterator[CsvChunk]:
    """Chunks of about ``size`` bytes of whole records from ``raw`` (positioned at the start
    of a record, on line ``first_line``) to its end."""
    records = _records_pattern(layout.delimiter.encode(_codec(layout.encoding)))
    # Longer than every field at the csv module's limit, in 4-byte characters: the quote of
    # a field has been left open (the csv module would refuse the field).
    longest = (len(layout.header) + 1) * csv.field_size_limit() * 4
    pending = b""
    line = first_line
    want = size
    while block := raw.read(max(1, want)):
        pending += block
        cut = _cut(pending, records)
        if not cut:
            if len(pending) > longest:
                raise CsvFormatError(
                    f"{layout.name}: line {line}: a record runs on for more than "
                    f"{longest // 2**20} MB (is a quote left open?); "
                    "nothing after this line was read"
                )
            want *= 2  # a long record: read more at a time, not rescan it for every block
            continue
        chunk, pending = pending[:cut], pending[cut:]
        yield CsvChunk(line, chunk)
        line += _lines_in(chunk)
        want = size
    if pending:
        if _cut(pending + b"\n", records) < len(pending):
            raise unclosed_quote_error(layout, line)
        yield CsvChunk(line, pending)


def parse_chunk(chunk: CsvChunk, layout: CsvLayout) -> list[tuple[Record, str]]:
    """The records of a chunk, exactly as iterating the whole file yields them, each with its
    text as it was in the file.

    The text is what the importing process keeps of an accepted row, to give the row back
    (``fields_of_text``) should it be refused later (a repeat, or by the database side).
    """
    text = chunk.data.decode(_codec(layout.encoding), errors=ERRORS)
    lines = io.StringIO(text, newline="").readlines()
    reader = csv.reader(lines, delimiter=layout.delimiter)
    found: list[tuple[Record, str]] = []
    begin = 0
    try:
        for fields in reader:
            end = reader.line_num
            record = to_record(chunk.first_line + begin, fields, layout)
            if record is not None:
                text = lines[begin] if end == begin + 1 else "".join(lines[begin:end])
                found.append((record, text))
            begin = end
    except csv.Error as exc:
        raise format_error(layout, chunk.first_line + begin, exc) from exc
    return found


def fields_of_text(text: str, layout: CsvLayout) -> list[str]:
    """The cells of a record's text (from ``parse_chunk``), as its record had them."""
    fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=layout.delimiter), [])
    record = to_record(0, fields, layout)
    return record.fields if record is not None else [""] * len(layout.header)
