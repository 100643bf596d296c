"""How an accepted row travels to the database: encoded once, by the worker that checked it.

The importing process then only moves these strings along: a batch of them, joined, is one
``COPY`` in PostgreSQL's text format, or one JSON array that SQLite expands itself
(``bulk_insert``). Building them there would be per-row work in the one process every row
passes through; in the workers it is spread over every core.
"""

from __future__ import annotations

from collections.abc import Callable
from json.encoder import encode_basestring_ascii

Encoded = tuple[int, str, str, str]
"""An accepted row: its line, its E.164 number, its payload for the database, and its text
in the file (empty for a database source), to give it back should the database refuse it."""

Encoder = Callable[[int, str, str | None, str, str], str]
"""``(line, e164, region, timezones JSON, variables JSON)`` to a payload."""

NULL = "\\N"
BACKSLASH, ESCAPED = "\\", "\\\\"


def postgres_payload(
    line: int, e164: str, region: str | None, timezones: str, variables: str
) -> str:
    """One line of COPY text for the staging table's (line, phone_e164, region, timezones,
    variables). The JSON texts are ASCII with every control character escaped, so only
    their backslashes need COPY's escaping."""
    return (
        f"{line}\t{e164}\t{region or NULL}\t{timezones.replace(BACKSLASH, ESCAPED)}\t"
        f"{variables.replace(BACKSLASH, ESCAPED)}\n"
    )


def sqlite_payload(line: int, e164: str, region: str | None, timezones: str, variables: str) -> str:
    """One JSON array ``[line, e164, region, timezones, variables]``, the JSON columns as
    strings holding their JSON text (stored exactly as the ORM writes them)."""
    place = f'"{region}"' if region else "null"
    return (
        f'[{line},"{e164}",{place},{encode_basestring_ascii(timezones)},'
        f"{encode_basestring_ascii(variables)}]"
    )


ENCODERS: dict[str, Encoder] = {"postgresql": postgres_payload, "sqlite": sqlite_payload}


def encoder_for(dialect: str) -> Encoder:
    try:
        return ENCODERS[dialect]
    except KeyError:
        raise NotImplementedError(f"bulk import into {dialect} is not supported") from None
