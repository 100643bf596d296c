"""Reading the CSV files operators actually upload, one record at a time.

Files come from CRMs, spreadsheets and address books: any of several encodings, with or without
a byte-order mark, separated by commas, semicolons, tabs or pipes, with quoted multi-line notes,
stray blank lines and trailing empty columns. Everything about the file's bytes is settled here,
so the layers above only ever see a header and rows of ``str`` of the header's width.

A file of a million rows must stream in flat memory: only a sample of the first
``SAMPLE_BYTES`` is read up front (to choose the encoding and delimiter), then the file is
decoded incrementally. One undecodable record is reported, not fatal: an export that is 99.9%
valid UTF-8 still imports, and the operator gets the few bad rows back.
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import re
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, NamedTuple, Self

from campaign_engine.contacts.reject_reasons import RejectReason

SAMPLE_BYTES = 64 * 1024
SNIFF_CHARS = 1024
DELIMITERS = ",;\t|"
# What a shell makes hard to type as one character ("\t" arrives as a backslash and a t).
DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}

# Like "surrogateescape" (undecodable byte b becomes U+DC00+b) but for every byte value:
# surrogateescape refuses bytes below 0x80, which a broken UTF-16 file does produce. Lone
# surrogates never come out of a successful decode, so finding one in a record means exactly
# "this record had bytes the encoding could not decode", and which bytes they were.
ERRORS = "campaign_engine.contacts.escape"
_SURROGATE = re.compile("[\ud800-\udfff]")
_LINE_END = re.compile(rb"\r\n|\n|\r")


def _escape_undecodable(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    bad = exc.object[exc.start : exc.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), exc.end


codecs.register_error(ERRORS, _escape_undecodable)


class CsvFormatError(ValueError):
    """The file as a whole cannot be read (no header, unknown encoding, unclosed quote)."""


class Record(NamedTuple):
    """One record, ``fields`` padded or trimmed to the header's width.

    ``problem`` is set when the record must be rejected for reasons only the reader can see;
    its ``fields`` are then still filled (undecodable bytes shown as U+FFFD) so the record can
    be written back out for the operator to fix.
    """

    line: int
    fields: list[str]
    problem: RejectReason | None = None
    detail: str = ""


class CsvSource:
    """An open CSV file: ``header`` is read eagerly, records are read as they are iterated.

    Iterate once; open the file again for a second pass. Use as a context manager, or call
    ``close``.
    """

    def __init__(
        self,
        path: Path,
        raw: BinaryIO,
        *,
        encoding: str,
        delimiter: str,
        bytes_per_line: int = 64,
    ) -> None:
        """Takes ownership of ``raw``, positioned at the start of the file."""
        self.path = path
        self.encoding = encoding
        self.delimiter = delimiter
        self.bytes_per_line = max(1, bytes_per_line)
        """About how long a line is (from the first bytes), to size chunks of the file."""
        self._raw = raw
        self._stream = io.TextIOWrapper(raw, encoding=encoding, errors=ERRORS, newline="")
        self._lines = _LinesSince(self._stream)
        self._reader = csv.reader(self._lines, delimiter=delimiter)
        self.header, self.header_line = self._read_header()

    def _read_header(self) -> tuple[list[str], int]:
        try:
            for fields in self._reader:
                names = [name.strip() for name in fields]
                if any(names):
                    break
            else:
                raise CsvFormatError(f"{self.path}: the file is empty (no header row)")
        except csv.Error as exc:
            raise CsvFormatError(f"{self.path}: cannot read the header row: {exc}") from exc
        names[0] = names[0].lstrip("\ufeff").strip()  # a BOM the declared encoding kept
        while not names[-1]:
            names.pop()
        line = self._reader.line_num
        if any(_SURROGATE.search(name) for name in names):
            raise CsvFormatError(
                f"{self.path}: the header row (line {line}) is not valid "
                f"{_display(self.encoding)}; pass the file's encoding explicitly"
            )
        return names, line

    @property
    def layout(self) -> CsvLayout:
        return CsvLayout(str(self.path), self.encoding, self.delimiter, tuple(self.header))

    def __iter__(self) -> Iterator[Record]:
        reader = self._reader
        layout = self.layout
        start = reader.line_num + 1
        since = self._lines.since
        since.clear()
        # Each record is held back until the next one is read: the last one is given only
        # once it is known not to end inside a quote left open.
        held: Record | None = None
        held_text = ""
        line = start
        failure: CsvFormatError | None = None
        try:
            for fields in reader:
                if held is not None:
                    yield held
                line, start = start, reader.line_num + 1
                held = to_record(line, fields, layout)
                held_text = "".join(since)
                since.clear()
        except csv.Error as exc:
            failure = format_error(layout, start, exc)
        else:
            if held_text and open_quote_at_end(held_text, layout):
                raise unclosed_quote_error(layout, line)
        if held is not None:
            yield held
        if failure is not None:
            raise failure

    def bytes_after_header(self) -> BinaryIO:
        """The file's bytes from the first record on (see ``csv_chunks``), instead of
        iterating the records here: one or the other, once."""
        self._raw.seek(offset_after_lines(self._raw, self.header_line))
        return self._raw

    @property
    def bytes_read(self) -> int:
        """How far into the file reading has got, for progress (ahead by a read buffer)."""
        return self._raw.tell()

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _display(encoding: str) -> str:
    return encoding.removesuffix("-sig")


def offset_after_lines(raw: BinaryIO, count: int) -> int:
    """The byte offset just past the first ``count`` lines of ``raw`` (each ended by "\\n",
    "\\r\\n" or "\\r", as the csv module counts lines); the stream is left there."""
    raw.seek(0)
    offset = 0
    data = b""
    while count:
        more = raw.read(SAMPLE_BYTES)
        data += more
        ends = _LINE_END.finditer(data, offset)
        for end in ends:
            if end.group() == b"\r" and end.end() == len(data) and more:
                break  # its "\n" may be in the next read
            offset = end.end()
            count -= 1
            if not count:
                break
        else:
            if not more:
                break
    raw.seek(offset)
    return offset


class CsvLayout(NamedTuple):
    """How a file's records are read: all a worker process needs to read a chunk of it."""

    name: str
    """The file, for messages."""
    encoding: str
    delimiter: str
    header: tuple[str, ...]


def to_record(line: int, fields: list[str], layout: CsvLayout) -> Record | None:
    """The record of the cells the csv module read at ``line``; None for a blank line."""
    joined = "".join(fields)
    if not joined or joined.isspace():
        return None  # blank line, or a spreadsheet's row of empty cells
    if not joined.isascii() and _SURROGATE.search(joined):
        return _undecodable(line, fields, layout)
    width = len(layout.header)
    count = len(fields)
    if count == width:
        return Record(line, fields)
    if count < width:
        fields.extend([""] * (width - count))
        return Record(line, fields)
    if any(value.strip() for value in fields[width:]):
        extra = [value for value in fields[width:] if value.strip()]
        return Record(
            line,
            fields[:width],
            RejectReason.TOO_MANY_COLUMNS,
            f"{count} values for {width} header columns; extra values: "
            + ", ".join(repr(value) for value in extra[:5]),
        )
    del fields[width:]
    return Record(line, fields)


def _undecodable(line: int, fields: list[str], layout: CsvLayout) -> Record:
    width = len(layout.header)
    column = next(i for i, value in enumerate(fields) if _SURROGATE.search(value))
    bad = bytes(ord(char) - 0xDC00 for char in fields[column] if 0xDC00 <= ord(char) <= 0xDCFF)
    name = layout.header[column] if column < width else f"#{column + 1} (beyond the header)"
    clean = [_SURROGATE.sub("\ufffd", value) for value in fields[:width]]
    clean.extend([""] * (width - len(clean)))
    return Record(
        line,
        clean,
        RejectReason.BAD_ENCODING,
        f"column {name!r} has bytes {bad!r} that are not valid {_display(layout.encoding)}; "
        "if the whole file is in another encoding, import it again with that encoding",
    )


class _LinesSince:
    """The file's lines as the csv module reads them, keeping those of the record being read."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.since: list[str] = []

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> str:
        line = next(self._lines)
        self.since.append(line)
        return line


def record_grammar(delimiter: str) -> str:
    """Whole records as the csv module (non-strict, excel) reads them, as a regular
    expression: a field is quoted (a doubled quote inside is a quote; anything after the
    closing quote belongs to the field too) or is not (then quotes in it are plain
    characters), and a record ends at a line end outside quotes."""
    other = re.escape(delimiter)
    field = '(?:"(?:[^"]|"")*+"[^' + other + '\r\n]*+|[^"' + other + "\r\n][^" + other
    field += "\r\n]*+|)"
    return "(?:" + field + "(?:" + other + field + ")*+(?:\r\n|\n|\r))*+"


@functools.cache
def _records(delimiter: str) -> re.Pattern[str]:
    return re.compile(record_grammar(delimiter))


def open_quote_at_end(text: str, layout: CsvLayout) -> bool:
    """Whether the last record of a file, ``text``, ends inside a quoted field: the csv
    module then reads the rest of the file into that field without a word."""
    found = _records(layout.delimiter).match(text + "\n")
    return found is None or found.end() < len(text)


def unclosed_quote_error(layout: CsvLayout, line: int) -> CsvFormatError:
    return CsvFormatError(
        f"{layout.name}: line {line}: a quoted field opened here is never closed, so the rest "
        "of the file would be read into it; close the quote; nothing from this line on was read"
    )


def format_error(layout: CsvLayout, line: int, exc: csv.Error) -> CsvFormatError:
    return CsvFormatError(
        f"{layout.name}: line {line}: {exc} (is a quote left open?); "
        "nothing after this line was read"
    )


def open_csv(
    path: str | Path, *, encoding: str | None = None, delimiter: str | None = None
) -> CsvSource:
    """Open ``path``, detecting the encoding and delimiter unless they are given.

    Raises CsvFormatError if the file has no header row or an override is not usable.
    """
    path = Path(path)
    if delimiter is not None:
        delimiter = DELIMITER_NAMES.get(delimiter.lower(), delimiter)
        if len(delimiter) != 1:
            raise CsvFormatError(
                f"the delimiter must be one character (or {', '.join(DELIMITER_NAMES)}), "
                f"not {delimiter!r}"
            )
    raw = path.open("rb")
    try:
        sample = raw.read(SAMPLE_BYTES)
        complete = len(sample) < SAMPLE_BYTES
        chosen = _resolve_encoding(sample, encoding, complete)
        _refuse_binary(path, sample, chosen)
        if delimiter is None:
            delimiter = sniff_delimiter(_sample_text(sample, chosen, complete))
        raw.seek(0)
        per_line = len(sample) // max(1, sample.count(b"\n"))
        return CsvSource(path, raw, encoding=chosen, delimiter=delimiter, bytes_per_line=per_line)
    except BaseException:
        raw.close()
        raise


# What operators upload by mistake instead of a CSV export, by the bytes it starts with.
_BINARY_SIGNATURES = (
    (b"PK\x03\x04", "spreadsheet workbook (.xlsx or .ods: a ZIP archive)"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Excel 97-2003 workbook (.xls)"),
    (b"%PDF", "PDF document"),
)


def _refuse_binary(path: Path, sample: bytes, encoding: str) -> None:
    """A workbook or other binary file would otherwise be read as one odd header and rows
    of garbage, each rejected on its own; say what the file is instead."""
    kind = next((name for magic, name in _BINARY_SIGNATURES if sample.startswith(magic)), None)
    if kind is None and b"\x00" in sample and not encoding.startswith(("utf-16", "utf-32")):
        kind = "binary file (it has NUL bytes, which no 8-bit text has)"
    if kind is not None:
        raise CsvFormatError(
            f"{path}: not CSV text: it looks like a {kind}; save it as CSV "
            "(in a spreadsheet: Save As, CSV UTF-8) and import that file"
        )


def detect_encoding(sample: bytes, *, complete: bool) -> str:
    """Choose a codec from the first bytes; ``complete`` when the sample is the whole file.

    A byte-order mark decides. Otherwise UTF-8, unless the sample is not (mostly) valid UTF-8:
    then Windows-1252, which Excel and older CRMs write in Western locales and which also
    reads Latin-1 text.
    """
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    bom_less_utf16 = _utf16_without_bom(sample)
    if bom_less_utf16:
        return bom_less_utf16
    # An incremental decoder does not fail on a character cut off at the sample's end.
    text = codecs.getincrementaldecoder("utf-8")(ERRORS).decode(sample, final=complete)
    undecodable = len(_SURROGATE.findall(text))
    if not undecodable:
        return "utf-8"
    # Legacy 8-bit text (é as a lone 0xE9) almost never forms a valid multi-byte sequence, so
    # a sample with at least as many valid non-ASCII characters as bad bytes is UTF-8 with a
    # few corrupt records: those get rejected, instead of every accented name turning to
    # mojibake.
    decoded = sum(1 for char in text if ord(char) > 0x7F) - undecodable
    return "utf-8" if decoded >= undecodable else "cp1252"


def _utf16_without_bom(sample: bytes) -> str | None:
    """Mostly-ASCII UTF-16 has a NUL in every other byte, which no 8-bit text file has."""
    half = len(sample) // 2
    if half < 2:
        return None
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    if odd > half * 0.3 and even < half * 0.05:
        return "utf-16-le"
    if even > half * 0.3 and odd < half * 0.05:
        return "utf-16-be"
    return None


def _resolve_encoding(sample: bytes, encoding: str | None, complete: bool) -> str:
    if encoding is None:
        return detect_encoding(sample, complete=complete)
    try:
        name = codecs.lookup(encoding).name
    except LookupError as exc:
        raise CsvFormatError(f"unknown encoding {encoding!r}") from exc
    if name == "utf-8" and sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    return name


def _sample_text(sample: bytes, encoding: str, complete: bool) -> str:
    """The first whole lines of the sample, at least one and about ``SNIFF_CHARS`` long."""
    text = sample.decode(encoding, errors=ERRORS)
    lines = text.splitlines(keepends=True)
    if not complete and len(lines) > 1:
        lines.pop()  # probably cut short by the sample's end
    chosen: list[str] = []
    size = 0
    for line in lines:
        if not line.strip():
            continue
        chosen.append(line)
        size += len(line)
        if size >= SNIFF_CHARS:
            break
    return "".join(chosen)


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter of ``sample`` (whole lines) among ``DELIMITERS``; comma if unsure.

    csv.Sniffer judges consistency across lines and understands quoting, but it can fail or
    pick a character that does not even split the header; then the delimiter that splits the
    header line into the most columns wins. A one-column file (just phone numbers) has none,
    and any choice reads it the same.
    """
    if not sample.strip():
        return ","
    first_line = sample.splitlines()[0]
    counts = {
        candidate: len(next(csv.reader([first_line], delimiter=candidate), []))
        for candidate in DELIMITERS
    }
    try:
        sniffed = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        sniffed = None
    if sniffed in counts and counts[sniffed] > 1:
        return sniffed
    best = max(DELIMITERS, key=lambda candidate: counts[candidate])  # first wins a tie
    return best if counts[best] > 1 else ","
