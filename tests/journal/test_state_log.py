"""One log line per state change, with campaign, contact and attempt ids as fields, written
only once the change is committed, and never a full phone number (``ops/state_log.py``)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from campaign_engine.db.models import CallAttempt
from campaign_engine.db.session import create_engine, session_factory
from campaign_engine.journal import state_log
from campaign_engine.journal.logs import handler
from campaign_engine.journal.state_log import Change
from campaign_engine.ops import actions
from tests.harness import running_engine
from tests.ops import seed

NUMBERS = [f"+9198000{i:05d}" for i in range(4)]


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """What the state logger writes, as JSON lines (the format when not on a terminal)."""
    stream = io.StringIO()
    out = handler(stream, as_json=True)
    state_log.log.addHandler(out)
    before = state_log.log.level
    state_log.log.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        state_log.log.removeHandler(out)
        state_log.log.setLevel(before)


def _entries(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_change_is_written_when_its_transaction_commits_and_not_before(
    database_url: str, lines: io.StringIO
) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            state_log.note(
                session, [Change("attempt", "not_sent", "c-1", 7, 42, "429 for +919811112345")]
            )
            assert lines.getvalue() == ""
    finally:
        await engine.dispose()

    [entry] = _entries(lines)
    assert entry["message"] == (
        "attempt 42 (contact 7) not_sent: 429 for +********2345 [campaign c-1]"
    )
    assert {
        k: entry[k] for k in ("entity", "state", "campaign_id", "contact_id", "attempt_id")
    } == {
        "entity": "attempt",
        "state": "not_sent",
        "campaign_id": "c-1",
        "contact_id": 7,
        "attempt_id": 42,
    }
    assert entry["detail"] == "429 for +********2345"


async def test_a_change_rolled_back_is_never_written(database_url: str, lines: io.StringIO) -> None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            async with session.begin():
                state_log.note(session, [Change("campaign", "paused", "c-1")])
                await session.rollback()
            async with session.begin():
                state_log.note(session, [Change("campaign", "running", "c-1")])
    finally:
        await engine.dispose()

    assert [entry["state"] for entry in _entries(lines)] == ["running"]


@pytest.mark.slow
async def test_a_campaign_logs_each_attempt_move_and_its_own_with_ids_and_masked_numbers(
    database_url: str, redis_prefix: str, lines: io.StringIO
) -> None:
    async with running_engine(database_url, redis_prefix) as harness:
        campaign_id = await harness.add_campaign(NUMBERS)
        await harness.run_to_completion(campaign_id)
        async with harness.runtime.sessions() as session:
            attempts = (await session.scalars(select(CallAttempt))).all()

    entries = _entries(lines)
    campaign_moves = [e["state"] for e in entries if e["entity"] == "campaign"]
    assert campaign_moves == ["running", "completed"]
    sequences = []
    for attempt in attempts:
        moves = [e for e in entries if e.get("attempt_id") == attempt.id]
        sequences.append([e["state"] for e in moves])
        # A webhook that beats the start response ends the attempt before it is "started";
        # polling that sees the call end before its webhook moves it through "processing".
        assert sequences[-1] in (
            ["dialing", "started", attempt.state],
            ["dialing", "started", "processing", attempt.state],
            ["dialing", attempt.state],
        )
        assert {(e["campaign_id"], e["contact_id"]) for e in moves} == {
            (campaign_id, attempt.contact_id)
        }
    assert ["dialing", "started", "ended"] in sequences
    text = lines.getvalue()
    assert not [number for number in NUMBERS if number in text]


async def test_an_operator_calling_a_given_up_contact_again_is_a_logged_state_change(
    database_url: str, lines: io.StringIO
) -> None:
    engine = create_engine(database_url)
    try:
        sessions = session_factory(engine)
        async with sessions() as session, session.begin():
            cid = await seed.campaign(session)
            ravi = await seed.contact(session, cid, "+919833333333", state="exhausted")
        async with sessions() as session, session.begin():
            await actions.retry_now(session, ravi.id, actor="lead")
    finally:
        await engine.dispose()

    [entry] = [e for e in _entries(lines) if e.get("contact_id") == ravi.id]
    assert (entry["entity"], entry["state"], entry["detail"]) == (
        "contact",
        "retrying",
        "retry now, by lead",
    )
