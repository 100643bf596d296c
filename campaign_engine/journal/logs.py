"""Log records for machines when nobody watches the terminal: one JSON object per line.

Whatever the format, nothing at INFO or above carries a full phone number (all but the last
four digits are masked) or a bearer token: logs travel to places call data must not go. The
same masking covers what else a line can carry: the traceback of an exception (whose text
may hold a SQL statement's parameters — a contact's number, name and variables), the rows a
database error quotes, and structured fields.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, TextIO

# E.164 numbers (and bare runs of 8-15 digits after a "+"), as the engine writes them.
PHONE = re.compile(r"\+\d{4,11}(\d{4})\b")
BEARER = re.compile(r"(?i)(bearer\s+)\S+")
# SQLAlchemy's errors end with the statement's parameters on a line of their own
# ("[parameters: (…)]"): a contact's number, name and variables. Engines hide them
# (db/session.py); an error raised elsewhere (a source database's) may not.
SQL_PARAMETERS = re.compile(r"\[(?:SQL )?parameters: .*?\](?=\s*(?:\n|\(Background|$))", re.DOTALL)
# PostgreSQL quotes the offending row or key values: "Failing row contains (…)",
# "Key (campaign_id, phone_e164)=(…) already exists".
FAILING_ROW = re.compile(r"(Failing row contains )\(.*?\)(?=\.?\s*(?:\n|$))", re.DOTALL)
KEY_VALUES = re.compile(r"(Key \([^)]*\)=)\(.*?\)(?= already exists| is not present| conflicts)")
HIDDEN = "[parameters hidden]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def mask(message: str) -> str:
    """Phone numbers down to their last four digits; bearer tokens, SQL parameters and the
    rows and keys a database error quotes removed."""
    message = SQL_PARAMETERS.sub(HIDDEN, message)
    message = FAILING_ROW.sub(r"\1(…)", message)
    message = KEY_VALUES.sub(r"\1(…)", message)
    message = PHONE.sub(lambda m: "+" + "*" * (len(m.group(0)) - 5) + m.group(1), message)
    return BEARER.sub(r"\1***", message)


def _masked(value: Any) -> Any:
    """A structured field's value with every string in it masked."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


_TRACEBACKS = logging.Formatter()


class MaskingFilter(logging.Filter):
    """Masks every record at INFO or above (DEBUG keeps detail): its message, its
    exception's traceback and text, its stack and its structured fields.

    The traceback is rendered here, masked, and kept as ``exc_text``, which every formatter
    prints instead of rendering the exception again.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.INFO:
            return True
        record.msg = mask(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask(record.exc_text)
        if record.stack_info:
            record.stack_info = mask(record.stack_info)
        fields = getattr(record, "fields", None)
        if fields:
            record.fields = _masked(fields)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Structured fields a line carries (state changes: entity, state, ids), already masked.
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, default=str)


def handler(stream: TextIO, *, as_json: bool) -> logging.Handler:
    """A stream handler with the masking filter and the chosen format."""
    out: logging.Handler = logging.StreamHandler(stream)
    out.addFilter(MaskingFilter())
    out.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    return out
