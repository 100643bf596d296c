"""CSV cells that a spreadsheet will show as data, never run as a formula.

A cell that a spreadsheet reads as a formula (``=HYPERLINK(...)``, ``@SUM(...)``, or a DDE
payload) can run when the export is opened: contact variables and extraction values come
from outside (a CSV upload, or what a callee said), so they are untrusted. Following the
OWASP "CSV Injection" guidance, a cell that begins with ``=``, ``+``, ``-``, ``@``, tab,
carriage return (and, for good measure, line feed) gets a leading ``'`` so it is read as
text. Leading white space (spaces, tabs, line ends) is looked through, because some
importers trim it.

One exception, decided on purpose: a cell that is a plain number — an optional sign, digits,
an optional decimal part, nothing else (``+919876543210``, ``-3``, ``-12.5``) — is left as
it is. A formula made of one numeric literal computes only that number, so it cannot call
a function or reach another application; and phone numbers in E.164 must stay readable
(and re-importable) rather than turn into ``'+9198…``. Anything else that starts with a
sign (``+1-800-FLOWERS``, ``-1+1``) is neutralised. JSON Lines output is not a spreadsheet
format and is written unchanged.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def is_plain_number(text: str) -> bool:
    return _PLAIN_NUMBER.fullmatch(text) is not None


def neutralise(text: str) -> str:
    """``text`` as a cell that cannot start a formula (see the module docstring)."""
    if not text:
        return text
    if text.startswith(CONTROL_STARTS):
        return "'" + text
    if text.lstrip(" \t\r\n").startswith(FORMULA_STARTS) and not is_plain_number(text):
        return "'" + text
    return text


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
