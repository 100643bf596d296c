"""What an operator asks of an import (``ImportOptions``), and what it answers: a summary,
or a refusal made before anything was written (``ImportRefused``).

The summary's JSON form is what ``contacts import --json`` prints and what a saved source
keeps as its last result, so its keys are a public format: add, never rename.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CHUNK_SIZE = 1000


class ImportRefused(ValueError):
    """The source cannot be imported as asked (nothing was written); the message says why."""


@dataclass(frozen=True)
class ImportOptions:
    phone_column: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    default_region: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    batch_size: int | None = None
    """Contacts per transaction (an interrupted import keeps whole batches); None for the
    backend's fastest (``bulk_insert.preferred_batch_size``)."""
    dry_run: bool = False
    # Variables the engine fills in itself, so the file need not supply them.
    engine_variables: tuple[str, ...] = ()
    drop_undeclared: bool = False
    """Leave out columns the agent does not declare, instead of refusing the file."""
    keep: tuple[str, ...] = ()
    """Columns stored with each contact for the results export (a CRM id), never sent to
    the agent as call variables."""
    vanity_numbers: bool = False
    """Read letters in a number as keypad digits (1-800-FLOWERS); else such a row is
    rejected as ``letters_in_number``, since a typo read that way dials a stranger."""
    workers: int | None = None
    """Processes checking rows: None for every core on large imports, 0 for none."""
    chunk_size: int = DEFAULT_CHUNK_SIZE
    """Records per unit of work handed to a worker (for a CSV file: about that many
    records' worth of its bytes, judged by its first lines)."""

    def __post_init__(self) -> None:
        if (self.batch_size is not None and self.batch_size < 1) or self.chunk_size < 1:
            raise ValueError("batch and chunk sizes must be positive")

    def saved(self) -> dict[str, Any]:
        """The options a saved source keeps (how to read rows, not how to run this time)."""
        return {
            "phone_column": self.phone_column,
            "mapping": dict(self.mapping),
            "exclude": list(self.exclude),
            "default_region": self.default_region,
            "engine_variables": list(self.engine_variables),
            "drop_undeclared": self.drop_undeclared,
            "vanity_numbers": self.vanity_numbers,
            "keep": list(self.keep),
        }

    @classmethod
    def from_saved(cls, data: dict[str, Any]) -> ImportOptions:
        return cls(
            phone_column=data.get("phone_column"),
            mapping=dict(data.get("mapping") or {}),
            exclude=tuple(data.get("exclude") or ()),
            default_region=data.get("default_region"),
            engine_variables=tuple(data.get("engine_variables") or ()),
            drop_undeclared=bool(data.get("drop_undeclared", False)),
            vanity_numbers=bool(data.get("vanity_numbers", False)),
            keep=tuple(data.get("keep") or ()),
        )


@dataclass
class ImportSummary:
    file: str
    """The CSV file, or for a database source its URL with the password masked."""
    encoding: str = ""
    delimiter: str = ""
    phone_column: str = ""
    variables: tuple[str, ...] = ()
    rows: int = 0
    imported: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False
    query: str | None = None
    """The SQL query, for a database source."""
    dropped: tuple[str, ...] = ()
    """Columns left out because the agent does not declare them (``drop_undeclared``)."""
    kept: tuple[str, ...] = ()
    """Columns stored for the export only (``ImportOptions.keep``)."""
    variables_checked: bool = True
    """False when the agent's declared variables were unknown (no API key to ask Vocobase,
    none stored on the campaign): every column was taken as a variable, unchecked."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "file": self.file,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "phone_column": self.phone_column,
            "variables": list(self.variables),
            "rows": self.rows,
            "imported": self.imported,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected),
            "dry_run": self.dry_run,
        }
        if self.query is not None:
            data["query"] = self.query
        if self.dropped:
            data["dropped_columns"] = list(self.dropped)
        if self.kept:
            data["kept_columns"] = list(self.kept)
        data["variables_checked"] = self.variables_checked
        return data


Progress = Callable[[ImportSummary], None]
"""Called after each committed batch (and once at the end) with the running totals."""
