"""Log records for machines when nobody watches the terminal: one JSON object per line.

Whatever the format, nothing at INFO or above carries a full phone number (all but the last
four digits are masked) or a bearer token: logs travel to places call data must not go.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import TextIO

# E.164 numbers (and bare runs of 8-15 digits after a "+"), as the engine writes them.
PHONE = re.compile(r"\+\d{4,11}(\d{4})\b")
BEARER = re.compile(r"(?i)(bearer\s+)\S+")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def mask(message: str) -> str:
    """Phone numbers down to their last four digits; bearer tokens removed."""
    message = PHONE.sub(lambda m: "+" + "*" * (len(m.group(0)) - 5) + m.group(1), message)
    return BEARER.sub(r"\1***", message)


class MaskingFilter(logging.Filter):
    """Masks the rendered message of every record at INFO or above (DEBUG keeps detail)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            record.msg = mask(record.getMessage())
            record.args = None
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
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def handler(stream: TextIO, *, as_json: bool) -> logging.Handler:
    """A stream handler with the masking filter and the chosen format."""
    out: logging.Handler = logging.StreamHandler(stream)
    out.addFilter(MaskingFilter())
    out.setFormatter(JsonFormatter() if as_json else logging.Formatter(TEXT_FORMAT))
    return out
