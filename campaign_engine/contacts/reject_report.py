"""The CSV of rejected rows an operator fixes and imports again.

It has the original columns, in the original order, with the original cell values, followed
by ``_line``, ``_reason`` and ``_detail``. Because ``ColumnMapping`` skips ``_``-prefixed
columns, the fixed file re-imports with the same options as the original, and a report of a
report does not pile up a second set of annotation columns.

It is written as UTF-8 with a byte-order mark: without one, Excel opens UTF-8 as the local
8-bit encoding and mangles every accented name; the reader here accepts it either way.

Every cell goes through the formula guard the results export uses (``formula_guard``): the
cells come from outside, and the report is made to be opened in a spreadsheet. A guarded
phone cell still re-imports (the reader drops Excel's leading ``'``); a guarded variable
keeps the ``'``.

A report must never be written over the file it reports on (``refuse_overwriting_source``):
every import that writes one checks that first.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from campaign_engine.contacts.formula_guard import neutralise
from campaign_engine.contacts.row_checks import Rejected

REPORT_COLUMNS = ("_line", "_reason", "_detail")
ENCODING = "utf-8-sig"


def refuse_overwriting_source(rejects_path: Path | None, source: Path) -> None:
    """Raise ValueError if the reject report would be written over ``source``, the file being
    imported, by whatever path (``..``, a symbolic link, a hard link): call it before anything
    is written."""
    if rejects_path is not None and _same_file(rejects_path, source):
        raise ValueError(
            f"--rejects {rejects_path} is the file being imported: the report would overwrite "
            "it; name another file"
        )


def _same_file(one: Path, other: Path) -> bool:
    try:
        return one.resolve() == other.resolve() or (one.exists() and one.samefile(other))
    except OSError:
        return False


class RejectReport:
    """Writes rejects as they stream past, so a million-row import never holds them all."""

    def __init__(self, path: str | Path, header: Sequence[str]) -> None:
        self.path = Path(path)
        self.columns = [name for name in header if name not in REPORT_COLUMNS]
        self.count = 0
        self._file: IO[str] = self.path.open("w", encoding=ENCODING, newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow([*self.columns, *REPORT_COLUMNS])

    def write(self, rejected: Rejected) -> None:
        raw = rejected.raw
        self._writer.writerow(
            [
                *(neutralise(raw.get(name, "")) for name in self.columns),
                rejected.line,
                rejected.reason.value,
                neutralise(rejected.detail),
            ]
        )
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def write_reject_report(
    path: str | Path, header: Sequence[str], rejects: Iterable[Rejected]
) -> int:
    """Write every reject to ``path``; returns how many were written."""
    with RejectReport(path, header) as report:
        for rejected in rejects:
            report.write(rejected)
        return report.count
