"""The preview of an uploaded CSV: its first rows, the phone column (detected or chosen),
what each other column becomes (a call variable, a value kept for the export only, or left
out), and whether that meets the agent's declared variables, checked by the importer's own
rules (``ColumnMapping`` and ``fit_to_agent``) so the preview refuses what the import would.

The console's form says, per column index, ``role:I`` (variable, keep or skip) and ``name:I``
(the variable it becomes); ``options_from_form`` turns that into the CLI's ``ImportOptions``
(``--map``, ``--exclude``, ``--keep-column``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.agent_contract import AgentLookup, declared_variables, fit_to_agent
from campaign_engine.contacts.columns import (
    IGNORED_PREFIX,
    ColumnError,
    ColumnMapping,
    detect_phone_column,
    normalize_header,
)
from campaign_engine.contacts.csv_source import open_csv
from campaign_engine.contacts.summary import ImportOptions, ImportRefused
from campaign_engine.db.models import Campaign

ROLES = ("variable", "keep", "skip")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


@dataclass(frozen=True)
class ColumnView:
    index: int
    header: str
    role: str
    variable: str
    samples: tuple[str, ...]
    note: str = ""
    bad: bool = False


@dataclass(frozen=True)
class Preview:
    encoding: str
    delimiter_name: str
    headers: tuple[str, ...]
    columns: tuple[ColumnView, ...]
    phone_index: int | None
    declared: list[str] | None
    unchecked: bool
    problem: str | None
    expected_rows: int


def default_form(headers: Sequence[str]) -> dict[str, str]:
    """Every column as the CLI would take it with no options."""
    form: dict[str, str] = {}
    detected = detect_phone_column(headers)
    if detected is not None:
        form["phone_column"] = headers[detected]
    for index, header in enumerate(headers):
        ignored = not header or header.startswith(IGNORED_PREFIX)
        form[f"role:{index}"] = "skip" if ignored else "variable"
        form[f"name:{index}"] = normalize_header(header)
    return form


def options_from_form(form: dict[str, str], shown: Preview, correlation: str) -> ImportOptions:
    """The importer's options for what the form chose (raises ValueError for a bad role)."""
    mapping: dict[str, str] = {}
    exclude: list[str] = []
    keep: list[str] = []
    for index, header in enumerate(shown.headers):
        if index == shown.phone_index:
            continue
        role = form.get(f"role:{index}", "variable")
        if role not in ROLES:
            raise ValueError(f"column {header!r}: unknown choice {role!r}")
        if role == "skip":
            exclude.append(header)
        elif role == "keep":
            keep.append(header)
        else:
            name = form.get(f"name:{index}", "").strip()
            if name and name != normalize_header(header):
                mapping[header] = name
    region = form.get("default_region", "").strip() or None
    return ImportOptions(
        phone_column=shown.headers[shown.phone_index] if shown.phone_index is not None else None,
        mapping=mapping,
        exclude=tuple(exclude),
        keep=tuple(keep),
        default_region=region,
        engine_variables=(correlation,),
    )


def _expected_rows(path: Path, first: list[int]) -> int:
    """About how many rows the file holds, from the length of its first lines."""
    if not first:
        return 0
    size = path.stat().st_size
    return max(len(first), round(size / max(1, sum(first) / len(first))))


async def read_preview(path: Path, rows: int) -> tuple[list[str], list[list[str]], str, str, int]:
    """Header, first ``rows`` records, encoding, delimiter, and about how many rows."""
    with open_csv(path) as source:
        samples = [record.fields for record in itertools.islice(iter(source), rows)]
        header, encoding, delimiter = source.header, source.encoding, source.delimiter
    with path.open("rb") as raw:
        lengths = [len(line) for line in itertools.islice(raw, 50)][1:]
    return header, samples, encoding, delimiter, _expected_rows(path, lengths)


async def preview(
    sessions: async_sessionmaker[AsyncSession],
    campaign: Campaign,
    path: Path,
    form: dict[str, str] | None,
    *,
    lookup: AgentLookup | None,
    engine_variables: tuple[str, ...],
    rows: int,
) -> Preview:
    """What importing ``path`` as ``form`` says (the defaults when no form yet)."""
    header, samples, encoding, delimiter, expected = await read_preview(path, rows)
    chosen = dict(default_form(header))
    chosen.update(form or {})
    phone = chosen.get("phone_column")
    phone_index = header.index(phone) if phone in header else None
    problem: str | None = None
    try:
        declared = await declared_variables(sessions, campaign, lookup, remember=False)
    except ImportRefused as exc:
        declared, problem = None, str(exc)
    shown = Preview(
        encoding, DELIMITER_NAMES.get(delimiter, repr(delimiter)), tuple(header), (),
        phone_index, declared, declared is None and problem is None, problem, expected,
    )  # fmt: skip
    if problem is None:
        problem = _check(shown, chosen, engine_variables)
    columns = []
    for index, name in enumerate(header):
        role = chosen.get(f"role:{index}", "variable")
        variable = chosen.get(f"name:{index}", "") or normalize_header(name)
        undeclared = role == "variable" and declared is not None and variable not in declared
        note = "the agent does not declare it" if undeclared else ""
        if role == "keep":
            note = "stored with the contact and exported, never sent to the agent"
        values = tuple(row[index] for row in samples if index < len(row))
        columns.append(ColumnView(index, name, role, variable, values, note, undeclared))
    return Preview(
        shown.encoding, shown.delimiter_name, shown.headers, tuple(columns), phone_index,
        declared, shown.unchecked, problem, expected,
    )  # fmt: skip


def _check(shown: Preview, form: dict[str, str], engine_variables: tuple[str, ...]) -> str | None:
    """The importer's refusal for these choices, or None when it would import."""
    if shown.phone_index is None:
        return "cannot tell which column holds the phone number; choose it below"
    try:
        options = options_from_form(form, shown, engine_variables[0] if engine_variables else "")
        mapping = ColumnMapping.build(
            list(shown.headers),
            phone_column=options.phone_column,
            mapping=options.mapping,
            exclude=options.exclude,
        ).keeping(options.keep)
        fit_to_agent(mapping, shown.declared, engine_variables=engine_variables)
    except (ColumnError, ImportRefused, ValueError) as exc:
        return str(exc)
    return None
