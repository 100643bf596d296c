"""Logs never carry a full phone number, a token, SQL parameters or a quoted row at INFO
(tracebacks and fields included), and are JSON for machines."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from campaign_engine.db.session import create_engine
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


def _integrity_error(phone: str, name: str) -> IntegrityError:
    """A real IntegrityError whose text carries the statement's parameters (an engine that
    does not hide them, as a source database's may not)."""
    engine = sa.create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE people (phone TEXT UNIQUE, name TEXT)"))
        conn.execute(sa.text("INSERT INTO people VALUES (:p, :n)"), {"p": phone, "n": name})
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO people VALUES (:p, :n)"), {"p": phone, "n": name})
    except IntegrityError as exc:
        return exc
    finally:
        engine.dispose()
    raise AssertionError("the duplicate was accepted")


@pytest.mark.parametrize("as_json", [True, False])
def test_an_error_with_an_integrity_error_traceback_shows_neither_number_nor_name(
    as_json: bool,
) -> None:
    error = _integrity_error("+919811112345", "Asha Verma")
    assert "Asha Verma" in str(error) and "+919811112345" in str(error)  # it would leak
    stream = io.StringIO()
    logger = logging.getLogger(f"test-ops-logs-traceback-{as_json}")
    logger.propagate = False
    logger.handlers = [handler(stream, as_json=as_json)]
    try:
        raise RuntimeError("import failed") from error
    except RuntimeError:
        logger.exception("import of %s failed", "+919811112345")

    text = stream.getvalue()
    assert "IntegrityError" in text and "Traceback" in text  # the traceback is kept
    assert "+919811112345" not in text and "919811112345" not in text
    assert "Asha" not in text and "Verma" not in text
    assert "+********2345" in text


def test_sql_parameters_and_quoted_rows_are_hidden_in_any_message() -> None:
    masked = mask(
        '(IntegrityError) null value in column "state" violates not-null constraint\n'
        'DETAIL:  Failing row contains (7, c1, +919811112345, {"name": "Asha"}).\n'
        "[SQL: INSERT INTO contacts (phone_e164, variables) VALUES ($1, $2)]\n"
        "[parameters: ('+919811112345', '{\"name\": \"Asha\"}')]\n"
        "(Background on this error at: https://sqlalche.me/e/20/gkpj)"
    )
    assert "Asha" not in masked and "9811112345" not in masked
    assert "[parameters hidden]" in masked and "Failing row contains (…)" in masked
    assert "[SQL: INSERT INTO contacts" in masked  # the statement itself stays
    key = mask("DETAIL:  Key (campaign_id, phone_e164)=(c1, Asha) already exists.")
    assert key == "DETAIL:  Key (campaign_id, phone_e164)=(…) already exists."


def test_structured_fields_are_masked_like_the_message() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("test-ops-logs-fields")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.handlers = [handler(stream, as_json=True)]
    logger.info("moved", extra={"fields": {"detail": "to +919811112345", "ids": ["+14155550123"]}})

    entry = json.loads(stream.getvalue())
    assert entry["detail"] == "to +********2345"
    assert entry["ids"] == ["+*******0123"]


async def test_the_engines_errors_never_carry_statement_parameters(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hidden.db'}")
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE people (phone TEXT UNIQUE, name TEXT)"))
            row = {"p": "+919811112345", "n": "Asha Verma"}
            await conn.execute(sa.text("INSERT INTO people VALUES (:p, :n)"), row)
        with pytest.raises(IntegrityError) as caught:
            async with engine.begin() as conn:
                await conn.execute(sa.text("INSERT INTO people VALUES (:p, :n)"), row)
    finally:
        await engine.dispose()
    assert "Asha" not in str(caught.value) and "+919811112345" not in str(caught.value)
