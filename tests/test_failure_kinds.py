"""Failure kinds are data stored in the database: their strings, the 429 set and helpers."""

from __future__ import annotations

import pytest

from campaign_engine.db.models import CallAttempt, Contact
from campaign_engine.failure_kinds import REFUSED_WITH_429, FailureKind, kind_values, of_429


def test_the_stored_strings_are_the_snake_case_names_columns_already_hold() -> None:
    assert {kind.name.lower(): kind.value for kind in FailureKind} == {
        "rate_limited": "rate_limited",
        "concurrency_limited": "concurrency_limited",
        "not_sent": "not_sent",
        "campaign_paused": "campaign_paused",
        "rejected": "rejected",
        "refused": "refused",
        "unknown": "unknown",
        "lost": "lost",
        "campaign_not_running": "campaign_not_running",
        "no_slot": "no_slot",
        "not_now": "not_now",
        "parked": "parked",
        "number_in_call": "number_in_call",
    }


def test_a_kind_compares_equal_to_its_stored_string() -> None:
    assert FailureKind("no_slot") is FailureKind.NO_SLOT
    assert FailureKind.PARKED == "parked"
    assert f"{FailureKind.REJECTED}" == "rejected"


def test_every_stored_value_fits_the_failure_kind_columns() -> None:
    widths = {
        CallAttempt.__table__.c.failure_kind.type.length,
        Contact.__table__.c.last_failure_kind.type.length,
    }
    assert all(len(kind.value) <= min(widths) for kind in FailureKind)


def test_only_the_two_limits_vocobase_refuses_with_429_count_as_429() -> None:
    assert {FailureKind.RATE_LIMITED, FailureKind.CONCURRENCY_LIMITED} == REFUSED_WITH_429
    assert FailureKind.REFUSED not in REFUSED_WITH_429
    assert isinstance(REFUSED_WITH_429, frozenset)


def test_kind_values_are_the_sorted_strings_for_an_in_clause() -> None:
    values = kind_values([FailureKind.PARKED, FailureKind.LOST, FailureKind.NO_SLOT])

    assert values == ["lost", "no_slot", "parked"]
    assert all(type(value) is str for value in values)


def test_kind_values_of_the_429_set_and_of_nothing() -> None:
    assert kind_values(REFUSED_WITH_429) == ["concurrency_limited", "rate_limited"]
    assert kind_values([]) == []


def test_kind_values_accepts_any_iterable_once() -> None:
    assert kind_values(kind for kind in (FailureKind.UNKNOWN, FailureKind.NOT_SENT)) == [
        "not_sent",
        "unknown",
    ]


@pytest.mark.parametrize(
    ("limit", "kind"),
    [
        ("concurrency", FailureKind.CONCURRENCY_LIMITED),
        ("rate", FailureKind.RATE_LIMITED),
        # A 429 whose limit could not be judged counts against the request rate.
        ("unknown", FailureKind.RATE_LIMITED),
    ],
)
def test_of_429_maps_the_judged_limit_to_its_kind(limit: str, kind: FailureKind) -> None:
    assert of_429(limit) is kind
    assert of_429(limit) in REFUSED_WITH_429
