"""CSV cells that a spreadsheet will show as data, never run as a formula.

The formula guard itself (``neutralise``: a leading ``'`` on any cell that could start a
formula, white space of every kind looked through, plain numbers left readable) is
``contacts.formula_guard``, shared with the reject report; see its docstring for the rules.
This module turns export values into text and guards them. JSON Lines output is not a
spreadsheet format and is written unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from campaign_engine.contacts.formula_guard import (
    CONTROL_STARTS,
    FORMULA_STARTS,
    is_plain_number,
    neutralise,
)

__all__ = [
    "CONTROL_STARTS",
    "FORMULA_STARTS",
    "as_text",
    "cell",
    "is_plain_number",
    "neutralise",
]


def as_text(value: Any) -> str:
    """A value as CSV text: empty for null, JSON for nested values, ISO-8601 for times."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        text = value.astimezone(UTC).isoformat(timespec="seconds")
        return text.replace("+00:00", "Z")
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def cell(value: Any) -> str:
    return neutralise(as_text(value))
