"""CSV cells a spreadsheet shows as data, never runs as a formula (OWASP CSV injection)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from campaign_engine.results.cells import as_text, cell, neutralise


@pytest.mark.parametrize(
    "text",
    [
        '=HYPERLINK("http://evil.example","click")',
        "+SUM(1,2)",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(A1:A9)",
        "\t=1+1",
        "\r=1+1",
        "\n=1+1",
        "  =1+1",  # leading spaces are looked through: some importers trim them
        " \t=1",  # and so are tabs and line ends after them
        " \r\n@SUM(A1)",
        "\x0b=1+1",  # vertical tab, form feed: white space too
        "\x0c=1+1",
        "\u00a0=1+1",  # a no-break space, as pasted from a web page
        "\u3000=1+1",  # an ideographic space, as typed with a CJK input method
        "\u3000@SUM(A1)",
        "\u2003+SUM(1,2)",  # any Unicode space
        "\u00a0-2+3+cmd|' /C calc'!A0",
        "\x1f\u2028=1",
        "\u200b=1+1",  # and invisible zero-width characters
        "\ufeff=1+1",
        "+1-800-FLOWERS",  # a sign, but not a plain number
        "-1+1",
        "=",
        "+",
    ],
)
def test_a_cell_that_could_start_a_formula_is_prefixed_with_a_quote(text: str) -> None:
    assert neutralise(text) == "'" + text


@pytest.mark.parametrize(
    "text",
    ["+919876543210", "+14155550100", "-3", "-12.5", "+0.75", "42", "0"],
)
def test_a_plain_number_with_a_sign_stays_readable(text: str) -> None:
    assert neutralise(text) == text


@pytest.mark.parametrize(
    "text", ["", "Asha", "asha@example.com", "a=b", "1+1", "café", '{"k":"=x"}']
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert neutralise(text) == text


def test_digits_other_than_ascii_do_not_count_as_a_plain_number() -> None:
    assert neutralise("+٣٤٥") == "'+٣٤٥"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (True, "true"),
        (False, "false"),
        (42.5, "42.5"),
        (-3, "-3"),
        ({"a": [1, "é"]}, '{"a":[1,"é"]}'),
        (datetime(2026, 5, 4, 10, 30, 5, 900000, tzinfo=UTC), "2026-05-04T10:30:05Z"),
    ],
)
def test_values_become_csv_text(value: object, text: str) -> None:
    assert as_text(value) == text


def test_a_nested_value_is_written_as_json_which_never_starts_a_formula() -> None:
    assert cell(["=1+1"]) == '["=1+1"]'
    assert cell("=1+1") == "'=1+1"
