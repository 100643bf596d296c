"""The per-row payloads workers encode for bulk inserts: COPY text lines and JSON arrays."""

from __future__ import annotations

import json

import pytest

from campaign_engine.contacts.payloads import (
    ENCODERS,
    NULL,
    encoder_for,
    postgres_payload,
    sqlite_payload,
)


def _copy_fields(line: str) -> list[str]:
    """Split one COPY text line and undo its backslash escaping (what PostgreSQL does)."""
    assert line.endswith("\n")
    return [field.replace("\\\\", "\\") for field in line[:-1].split("\t")]


def test_postgres_payload_is_one_tab_separated_line_per_row() -> None:
    line = postgres_payload(7, "+919876543210", "IN", '["Asia/Calcutta"]', '{"name":"Asha"}')
    assert line == '7\t+919876543210\tIN\t["Asia/Calcutta"]\t{"name":"Asha"}\n'


@pytest.mark.parametrize("region", [None, ""])
def test_postgres_payload_writes_copys_null_marker_for_no_region(region: str | None) -> None:
    line = postgres_payload(2, "+18005550100", region, "[]", "{}")
    assert line.split("\t")[2] == NULL == "\\N"


def test_postgres_payload_doubles_backslashes_in_the_json_columns_only() -> None:
    variables = json.dumps({"note": 'say "hi"\n', "path": "C:\\x"})
    line = postgres_payload(3, "+15550000000", "US", '["A\\\\B"]', variables)
    fields = _copy_fields(line)
    assert json.loads(fields[4]) == {"note": 'say "hi"\n', "path": "C:\\x"}
    assert fields[3] == '["A\\\\B"]'
    # Every control character is inside escaped JSON: no raw tab or newline leaks in.
    assert line.count("\t") == 4 and line.count("\n") == 1


def test_sqlite_payload_is_a_json_array_with_the_json_columns_as_strings() -> None:
    payload = sqlite_payload(9, "+919876543210", "IN", '["Asia/Calcutta"]', '{"name":"Asha"}')
    assert json.loads(payload) == [
        9,
        "+919876543210",
        "IN",
        '["Asia/Calcutta"]',
        '{"name":"Asha"}',
    ]


@pytest.mark.parametrize("region", [None, ""])
def test_sqlite_payload_writes_null_for_no_region(region: str | None) -> None:
    assert json.loads(sqlite_payload(2, "+18005550100", region, "[]", "{}"))[2] is None


def test_sqlite_payload_keeps_quotes_backslashes_and_non_ascii_in_variables_exactly() -> None:
    variables = json.dumps({"name": 'Zoë "Z" \\ O\'Neil', "city": "München"})
    decoded = json.loads(sqlite_payload(4, "+4915100000000", "DE", '["Europe/Berlin"]', variables))
    assert decoded[4] == variables
    assert json.loads(decoded[4]) == {"name": 'Zoë "Z" \\ O\'Neil', "city": "München"}


def test_sqlite_payload_is_pure_ascii() -> None:
    payload = sqlite_payload(
        4, "+4915100000000", "DE", "[]", json.dumps({"a": "ü"}, ensure_ascii=False)
    )
    assert payload.isascii()
    assert json.loads(json.loads(payload)[4]) == {"a": "ü"}


def test_encoder_for_knows_both_tested_backends() -> None:
    assert encoder_for("postgresql") is postgres_payload
    assert encoder_for("sqlite") is sqlite_payload
    assert set(ENCODERS) == {"postgresql", "sqlite"}


def test_encoder_for_an_unsupported_dialect_says_so() -> None:
    with pytest.raises(NotImplementedError, match="bulk import into mysql is not supported"):
        encoder_for("mysql")
