"""Logs never carry a full phone number or a token at INFO, and are JSON for machines."""

from __future__ import annotations

import io
import json
import logging

from campaign_engine.journal.logs import handler, mask


def _log(level: int, message: str, *args: object, as_json: bool) -> str:
    stream = io.StringIO()
    logger = logging.getLogger(f"test-ops-logs-{as_json}-{level}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.handlers = [handler(stream, as_json=as_json)]
    logger.log(level, message, *args)
    return stream.getvalue()


def test_numbers_keep_only_their_last_four_digits_and_tokens_vanish() -> None:
    assert mask("dialing +919811112345 now") == "dialing +********2345 now"
    assert mask("Authorization: Bearer s3cr3t") == "Authorization: Bearer ***"
    assert mask("attempt 1234567890123 done") == "attempt 1234567890123 done"


def test_json_lines_carry_level_logger_and_masked_message() -> None:
    line = _log(logging.INFO, "calling %s", "+14155550123", as_json=True)
    entry = json.loads(line)
    assert (entry["level"], entry["message"]) == ("INFO", "calling +*******0123")
    assert "ts" in entry and entry["logger"].startswith("test-ops-logs")


def test_debug_keeps_the_full_number_for_local_investigation() -> None:
    assert "+14155550123" in _log(logging.DEBUG, "calling %s", "+14155550123", as_json=False)
