"""One formula guard for every file a spreadsheet may open: reject reports and exports."""

from __future__ import annotations

import pytest

from campaign_engine.contacts.formula_guard import is_plain_number, neutralise


@pytest.mark.parametrize(
    "cell",
    [
        "=HYPERLINK(1)",
        "+cmd",
        "-2+3",
        "@SUM(A1)",
        " =1",
        "\x0b=1",
        "\x0c=1",
        "\u00a0=1",
        "\u3000=1",
    ],
)
def test_a_cell_a_spreadsheet_would_run_is_neutralised(cell: str) -> None:
    guarded = neutralise(cell)
    assert guarded != cell and guarded.startswith("'")


@pytest.mark.parametrize("cell", ["Asha", "42", "-3.5", "+91", "", "a=b"])
def test_plain_text_and_plain_numbers_are_left_as_they_are(cell: str) -> None:
    assert neutralise(cell) == cell


def test_plain_numbers_are_told_from_formulas() -> None:
    assert is_plain_number("-3.5") and is_plain_number("+12")
    assert not is_plain_number("-3+5") and not is_plain_number("=1")
