"""Which column holds the phone number, and which columns become which call variables.

Headers are whatever a CRM or spreadsheet wrote ("  Phone Number ", "Phone 1 - Value",
"Teléfono"), but variable names are identifiers an agent prompt refers to, so each header is
normalized to one. Every decision is made once, before any row is read, and every mistake is
an error naming the column and listing the headers: a silently wrong mapping would put the
wrong values into thousands of calls.

Columns whose header starts with ``_`` are skipped: they are annotations, notably the
``_line``/``_reason``/``_detail`` columns of a reject report, which must re-import as it is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
IGNORED_PREFIX = "_"
# Kept columns are stored among a contact's variables under this prefix: not an identifier,
# so never an agent's variable name, and never sent with a call (see ``is_kept``).
KEPT_PREFIX = "kept:"


def is_kept(variable: str) -> bool:
    """A value kept for the export only (a CRM id), never a call variable."""
    return variable.startswith(KEPT_PREFIX)


# Exact normalized names, most specific first: where an export has both "Mobile Phone" and
# "Business Phone" (Outlook), the mobile is the one to call.
PHONE_COLUMN_NAMES: tuple[str, ...] = (
    "phone",
    "phone_number",
    "phonenumber",
    "mobile",
    "mobile_number",
    "mobilenumber",
    "mobile_phone",
    "mobilephone",
    "mobile_no",
    "cell",
    "cell_phone",
    "cellphone",
    "cell_number",
    "msisdn",
    "whatsapp",
    "whatsapp_number",
    "contact_number",
    "contact_no",
    "telephone",
    "telephone_number",
    "tel",
    "tel_no",
    "phone_no",
    "phone_1_value",  # Google Contacts
    "primary_phone",  # Outlook
    "number",
    "home_phone",
    "business_phone",
    # European spreadsheets (accents are stripped first: "Teléfono" -> "telefono").
    "telefon",
    "telefono",
    "telefone",
    "movil",
    "celular",
    "cellulare",
    "handy",
    "mobil",
)
_PHONE_WORDS = frozenset(
    {"phone", "mobile", "cell", "msisdn", "whatsapp", "telephone", "tel", "telefon", "telefono"}
)
# Words that mark a column *about* a phone rather than holding one ("Phone 1 - Label").
_NOT_A_NUMBER_WORDS = frozenset(
    {"type", "label", "ext", "extension", "country", "code", "status", "verified", "consent"}
)
_SEPARATORS = re.compile(r"[\s.\-]+")
_NOT_IDENTIFIER = re.compile(r"[^a-z0-9_]")
_UNDERSCORES = re.compile(r"__+")


class ColumnError(ValueError):
    """The requested mapping cannot be applied to this file's header."""


def normalize_header(name: str) -> str:
    """The variable name a header becomes; "" when nothing usable is left (e.g. "電話")."""
    text = unicodedata.normalize("NFKD", name.strip().lower())
    text = "".join(char for char in text if not unicodedata.combining(char))  # é -> e
    text = _SEPARATORS.sub("_", text)
    text = _NOT_IDENTIFIER.sub("", text)
    text = _UNDERSCORES.sub("_", text).strip("_")
    if text[:1].isdigit():
        text = "_" + text
    return text


def detect_phone_column(headers: Sequence[str]) -> int | None:
    """Index of the column that most likely holds the phone number, or None if unsure.

    An exact known name wins, in ``PHONE_COLUMN_NAMES`` order. Otherwise a single header
    containing a phone word ("Customer Mobile") is taken; several of them are ambiguous, and
    guessing which number to call is not this function's job.
    """
    normalized = [
        "" if header.startswith(IGNORED_PREFIX) else normalize_header(header) for header in headers
    ]
    for name in PHONE_COLUMN_NAMES:
        if name in normalized:
            return normalized.index(name)
    candidates = [
        index
        for index, name in enumerate(normalized)
        if (words := set(name.split("_"))) & _PHONE_WORDS and not words & _NOT_A_NUMBER_WORDS
    ]
    return candidates[0] if len(candidates) == 1 else None


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """The resolved plan: ``variables`` pairs a column index with its variable name."""

    headers: tuple[str, ...]
    phone_index: int
    variables: tuple[tuple[int, str], ...]
    ignored: tuple[str, ...]
    """Headers not imported: excluded, ``_``-prefixed, or blank."""

    @property
    def phone_column(self) -> str:
        return self.headers[self.phone_index]

    @property
    def variable_names(self) -> tuple[str, ...]:
        return tuple(name for _, name in self.variables)

    def without(self, variables: Iterable[str]) -> ColumnMapping:
        """The same plan with the columns of ``variables`` left out (ignored) instead."""
        drop = set(variables)
        return ColumnMapping(
            self.headers,
            self.phone_index,
            tuple((index, name) for index, name in self.variables if name not in drop),
            self.ignored
            + tuple(self.headers[index] for index, name in self.variables if name in drop),
        )

    @property
    def kept_columns(self) -> tuple[str, ...]:
        return tuple(self.headers[index] for index, name in self.variables if is_kept(name))

    @property
    def call_variables(self) -> tuple[str, ...]:
        """The variables a call is sent (kept columns are not)."""
        return tuple(name for name in self.variable_names if not is_kept(name))

    def keeping(self, columns: Iterable[str]) -> ColumnMapping:
        """The same plan with ``columns`` stored for the export under ``kept:NAME`` instead
        of being call variables; raises ColumnError for the phone column or a repeat."""
        kept: dict[int, str] = {}
        for column in columns:
            index = _find(self.headers, column, "kept column")
            header = self.headers[index]
            if index == self.phone_index:
                raise ColumnError(f"cannot keep {header!r} aside: it is the phone column")
            name = KEPT_PREFIX + (normalize_header(header) or f"column_{index + 1}")
            if name in kept.values():
                raise ColumnError(f"two kept columns would both be stored as {name!r}")
            kept[index] = name
        return ColumnMapping(
            self.headers,
            self.phone_index,
            tuple((i, name) for i, name in self.variables if i not in kept) + tuple(kept.items()),
            tuple(h for i, h in enumerate(self.headers) if h in self.ignored and i not in kept),
        )

    @classmethod
    def build(
        cls,
        headers: Sequence[str],
        *,
        phone_column: str | None = None,
        mapping: Mapping[str, str] | None = None,
        exclude: Iterable[str] = (),
    ) -> ColumnMapping:
        """Resolve the operator's options against ``headers``; raises ColumnError.

        Column names in the options match a header exactly, or else by normalized name
        (``--map "phone number=..."`` finds "Phone Number"), as long as that is unambiguous.
        """
        names = tuple(headers)
        _check_unique(names)
        if phone_column is not None:
            phone_index = _find(names, phone_column, "phone column")
        else:
            detected = detect_phone_column(names)
            if detected is None:
                raise ColumnError(
                    "cannot tell which column holds the phone number; name it explicitly. "
                    + _listing(names)
                )
            phone_index = detected

        renamed: dict[int, str] = {}
        for column, variable in (mapping or {}).items():
            index = _find(names, column, "mapped column")
            if not IDENTIFIER.fullmatch(variable):
                raise ColumnError(
                    f"cannot map column {column!r} to {variable!r}: a variable name must be "
                    "letters, digits and underscores, not starting with a digit"
                )
            if index == phone_index:
                raise ColumnError(f"column {column!r} is the phone column, not a variable")
            renamed[index] = variable
        excluded = {_find(names, column, "excluded column") for column in exclude}
        if phone_index in excluded:
            raise ColumnError(f"cannot exclude {names[phone_index]!r}: it is the phone column")
        if both := excluded & renamed.keys():
            raise ColumnError(f"column {names[min(both)]!r} is both mapped and excluded")

        variables: list[tuple[int, str]] = []
        ignored: list[str] = []
        owner: dict[str, int] = {}
        for index, header in enumerate(names):
            if index == phone_index:
                continue
            if index in renamed:
                variable = renamed[index]
            elif index in excluded or header.startswith(IGNORED_PREFIX) or not header:
                ignored.append(header)
                continue
            else:
                variable = normalize_header(header)
                if not variable:
                    raise ColumnError(
                        f"column {header!r} has no usable variable name; map it to one "
                        "or exclude it"
                    )
            if variable in owner:
                raise ColumnError(
                    f"columns {names[owner[variable]]!r} and {header!r} would both become "
                    f"variable {variable!r}; map one of them to another name or exclude it"
                )
            owner[variable] = index
            variables.append((index, variable))
        return cls(names, phone_index, tuple(variables), tuple(ignored))


@dataclass(frozen=True, slots=True)
class AgentCheck:
    missing: tuple[str, ...]
    """Variables the agent declares that no column supplies (they will render empty)."""
    undeclared: tuple[str, ...]
    """Variables from the file that the agent does not declare (it will not accept them)."""

    @property
    def ok(self) -> bool:
        return not self.missing and not self.undeclared


def check_against_agent(mapping: ColumnMapping, declared: Sequence[str] | None) -> AgentCheck:
    """Compare the file's variables with the agent's; ``declared=None`` means "accepts any".

    Reports only: whether a mismatch blocks the import is the caller's decision, and it should
    be shown before any row is imported.
    """
    if declared is None:
        return AgentCheck(missing=(), undeclared=())
    supplied = mapping.call_variables
    return AgentCheck(
        missing=tuple(name for name in declared if name not in supplied),
        undeclared=tuple(name for name in supplied if name not in declared),
    )


def _check_unique(headers: tuple[str, ...]) -> None:
    """Rows are keyed by header in reject reports, so two equal headers would lose a value."""
    seen: dict[str, int] = {}
    for index, header in enumerate(headers):
        if header and header in seen:
            raise ColumnError(
                f"header {header!r} appears twice (columns {seen[header] + 1} and {index + 1}); "
                "rename one in the file"
            )
        seen[header] = index


def _find(headers: tuple[str, ...], column: str, role: str) -> int:
    wanted = column.strip()
    if wanted in headers:
        return headers.index(wanted)
    key = normalize_header(wanted)
    matches = [index for index, header in enumerate(headers) if normalize_header(header) == key]
    if key and len(matches) == 1:
        return matches[0]
    raise ColumnError(f"{role} {column!r} is not in the file. {_listing(headers)}")


def _listing(headers: Sequence[str]) -> str:
    return "The columns are: " + ", ".join(repr(header) for header in headers)
