import json
from datetime import UTC, datetime, timedelta

from chaos.claims import claims_between

T0 = datetime(2026, 1, 1, 12, tzinfo=UTC)


def line(seconds: int, attempt_id: int, state: str = "dialing", entity: str = "attempt") -> str:
    moment = (T0 + timedelta(seconds=seconds)).isoformat()
    return json.dumps({"ts": moment, "entity": entity, "state": state, "attempt_id": attempt_id})


def test_only_claims_logged_within_the_window_are_taken() -> None:
    lines = [
        "--- start 1 at 1796552153.001",
        "campaign-engine ready: worker",
        line(-10, 1),
        line(1, 2),
        line(2, 3, state="started"),
        line(3, 4, entity="contact"),
        line(5, 5),
        line(30, 6),
        "[1, 2]",
    ]
    assert claims_between(lines, T0, T0 + timedelta(seconds=10)) == [2, 5]
