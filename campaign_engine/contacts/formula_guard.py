"""CSV cells that a spreadsheet will show as data, never run as a formula.

A cell that a spreadsheet reads as a formula (``=HYPERLINK(...)``, ``@SUM(...)``, or a DDE
payload) can run when the file is opened. Contact cells come from outside (a CSV upload, an
operator's database) and extraction values from what a callee said, so they are untrusted.
Following the OWASP "CSV Injection" guidance, a cell that begins with ``=``, ``+``, ``-``,
``@``, tab, carriage return (and, for good measure, line feed) gets a leading ``'`` so it is
read as text. Leading white space of any kind is looked through, because some importers trim
it: ASCII (space, tab, line ends, vertical tab, form feed), Unicode spaces (no-break space,
ideographic space, the em and en spaces...) and the invisible zero-width characters.

One exception, decided on purpose: a cell that is a plain number — an optional sign, digits,
an optional decimal part, nothing else (``+919876543210``, ``-3``, ``-12.5``) — is left as
it is. A formula made of one numeric literal computes only that number, so it cannot call
a function or reach another application; and phone numbers in E.164 must stay readable
(and re-importable) rather than turn into ``'+9198…``. Anything else that starts with a
sign (``+1-800-FLOWERS``, ``-1+1``) is neutralised.

This is the one guard for every CSV the engine writes for a spreadsheet: the results export
(``results.cells``) and the reject report (``contacts.reject_report``). It lives here, in the
lower of the two layers, so both can use it.
"""

from __future__ import annotations

import re

FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r", "\n")
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
# Python's \s is every Unicode white-space character (str.isspace); the zero-width ones are
# format characters, not white space, but are just as invisible in a cell.
_LEADING_BLANKS = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]*")


def is_plain_number(text: str) -> bool:
    return _PLAIN_NUMBER.fullmatch(text) is not None


def neutralise(text: str) -> str:
    """``text`` as a cell that cannot start a formula (see the module docstring)."""
    if not text:
        return text
    if text.startswith(CONTROL_STARTS):
        return "'" + text
    blanks = _LEADING_BLANKS.match(text)
    start = blanks.end() if blanks else 0
    if text.startswith(FORMULA_STARTS, start) and not is_plain_number(text):
        return "'" + text
    return text
