from datetime import UTC, datetime, timedelta

from chaos.progress import describe

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_waiting_contacts_are_tallied_by_state_and_kind_with_the_earliest_due() -> None:
    rows = [
        ("retrying", "not_now", 3, NOW + timedelta(seconds=42)),
        ("queued", None, 2, None),
        ("pending", None, 1, (NOW - timedelta(seconds=1)).replace(tzinfo=None).isoformat()),
    ]
    assert describe(rows, NOW) == {
        "pending/-": {"contacts": 1, "due_in": -1.0},
        "queued/-": {"contacts": 2, "due_in": None},
        "retrying/not_now": {"contacts": 3, "due_in": 42.0},
    }
