"""``campaign-engine ops`` against a real SQLite database and the real Redis."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from campaign_engine.db.models import utcnow
from campaign_engine.db.session import create_engine, session_factory
from tests.cli.support import Cli, one_line_error
from tests.ops import seed


@pytest.fixture
def cli(config: Path) -> Cli:
    """``campaign-engine ops …``."""
    return Cli(config, "ops")


def _seed(url: str) -> tuple[str, int]:
    async def go() -> tuple[str, int]:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                cid = await seed.campaign(session)
                asha = await seed.contact(
                    session, cid, "+919811111111", state="retrying", attempts_count=1,
                    last_outcome="no_answer", next_attempt_at=utcnow(),
                )  # fmt: skip
                await seed.attempt(session, asha, state="ended", outcome="no_answer")
                return cid, asha.id
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_views_print_tables_and_json(cli: Cli, sqlite_url: str) -> None:
    cid, asha = _seed(sqlite_url)

    [row] = cli.json("overview")
    assert (row["id"], row["total"], row["calls_last_minute"]) == (cid, 2, 1)
    assert cli.json("retries", "--phone", "9811")["by_reason"] == {"no_answer": 1}
    assert cli.json("dead", "--campaign", cid) == {"contacts": [], "attempts": []}
    assert [a["outcome"] for a in cli.json("contact", str(asha))["attempts"]] == ["no_answer"]
    assert cli.json("limits")["cooldown_ms"] == 0
    for view in (("overview",), ("retries",), ("dead",), ("contact", str(asha)), ("limits",)):
        assert cli.ok(*view)


def test_actions_are_recorded_under_the_actor_and_listed_by_audit(
    cli: Cli, sqlite_url: str
) -> None:
    cid, asha = _seed(sqlite_url)

    assert "due now" in cli.ok("retry-now", str(asha), "--actor", "lead")
    assert cli.ok("requeue-reason", cid, "no_answer", "--actor", "lead").strip() == "requeued 1"
    assert json.loads(cli.ok("edit-vars", str(asha), "--set", "name=Asha")) == {"name": "Asha"}
    assert "paused" not in cli.ok("pause", cid, "--actor", "lead", "--reason", "lunch")
    cli.ok("resume", cid)
    cli.ok("skip", str(asha))

    entries = cli.json("audit")
    assert [e["action"] for e in entries] == [
        "skip", "resume", "pause", "edit-vars", "requeue-reason", "retry-now",
    ]  # fmt: skip
    assert entries[-1]["actor"] == "lead"
    assert [e["action"] for e in cli.json("audit", "--target", f"contact:{asha}")] == [
        "skip", "edit-vars", "retry-now",
    ]  # fmt: skip
    assert "audit log" in cli.ok("audit")


def test_refused_actions_are_one_line_errors(cli: Cli, sqlite_url: str) -> None:
    _, asha = _seed(sqlite_url)
    cli.ok("skip", str(asha))
    for args in (("retry-now", "999"), ("edit-vars", "1", "--set", "oops"), ("skip", str(asha))):
        one_line_error(cli(*args))


def test_requeue_by_an_unknown_reason_is_refused_naming_the_reasons(cli: Cli) -> None:
    cid = cli.create()

    error = one_line_error(cli("requeue-reason", cid, "bogus"))

    assert "unknown reason 'bogus'; one of no_answer, busy, voicemail" in error


def test_call_now_answers_say_when_in_text_and_json(cli: Cli, sqlite_url: str) -> None:
    cid, asha = _seed(sqlite_url)

    answer = cli.json("retry-now", str(asha))
    assert (answer["contact_id"], answer["now"], answer["held"]) == (asha, True, None)
    assert answer["due_at"] is not None
    edited = cli.json("edit-vars", str(asha), "--set", "name=Asha")
    assert edited["variables"] == {"name": "Asha"} and edited["call"]["now"] is True
    code, out, err = cli.run("edit-vars", str(asha), "--set", "name=Asha")
    assert code == 0 and json.loads(out) == {"name": "Asha"}
    assert "is due now, called ahead of the queue" in err
    requeued = cli.json("requeue-reason", cid, "no_answer")
    assert (requeued["count"], requeued["now"]) == (1, 1)
    assert [c["contact_id"] for c in requeued["contacts"]] == [asha]
