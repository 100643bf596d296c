"""The export's queries: each contact with its last finished attempt, every attempt, and
the variable and extraction names in use — streamed from both backends."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from campaign_engine.db.models import utcnow
from campaign_engine.results.query import (
    FINISHED,
    attempts_query,
    contacts_query,
    names_in_use,
    require_campaign,
    stream_rows,
)
from campaign_engine.runtime import Runtime
from tests.ops import seed


async def _rows(runtime: Runtime, query: Any) -> list[dict[str, Any]]:
    async with runtime.sessions() as session:
        return [row async for row in stream_rows(session, query)]


def test_only_ended_and_expired_attempts_count_as_finished() -> None:
    assert FINISHED == ("ended", "expired")


async def test_require_campaign_passes_for_a_campaign_and_names_a_missing_one(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        campaign_id = await seed.campaign(session, start=False)
    async with runtime.sessions() as session:
        await require_campaign(session, campaign_id)
        with pytest.raises(LookupError, match="campaign nope not found"):
            await require_campaign(session, "nope")


async def test_each_contact_carries_its_last_finished_attempt_not_a_later_open_one(
    runtime: Runtime,
) -> None:
    start = utcnow() - timedelta(hours=1)
    async with runtime.sessions() as session, session.begin():
        campaign_id = await seed.campaign(session, start=False)  # +919800000000, no attempts
        reached = await seed.contact(
            session, campaign_id, "+919800000001", state="completed",
            attempts_count=2, last_outcome="completed", variables={"name": "Asha"},
        )  # fmt: skip
        await seed.attempt(
            session, reached, state="ended", number=1, outcome="no_answer",
            call_status="no_answer", claimed_at=start,
        )  # fmt: skip
        await seed.attempt(
            session, reached, state="ended", number=2, outcome="completed",
            call_status="completed", disposition="completed", duration_seconds=42.5,
            credits_used=1.5, recording_url="https://rec/2", extraction={"values": {"ok": 1}},
            claimed_at=start + timedelta(minutes=5),
        )  # fmt: skip
        await seed.attempt(session, reached, state="dialing", number=3)
        expired = await seed.contact(
            session, campaign_id, "+919800000002", state="exhausted", attempts_count=1
        )
        await seed.attempt(session, expired, state="expired", number=1, call_status="ringing")
        refused = await seed.contact(session, campaign_id, "+919800000003", state="pending")
        await seed.attempt(session, refused, state="not_sent", number=1, error="429")

    rows = await _rows(runtime, contacts_query(campaign_id))

    assert [row["phone"] for row in rows] == [
        "+919800000000",
        "+919800000001",
        "+919800000002",
        "+919800000003",
    ]
    untouched, completed, timed_out, handed_back = rows
    assert untouched["attempt_number"] is None and untouched["call_status"] is None
    assert completed["attempt_number"] == 2
    assert completed["call_status"] == "completed"
    assert completed["duration_seconds"] == 42.5
    assert completed["credits_used"] == 1.5
    assert completed["recording_url"] == "https://rec/2"
    assert completed["extraction"] == {"values": {"ok": 1}}
    assert completed["variables"] == {"name": "Asha"}
    assert (completed["state"], completed["attempts"], completed["last_outcome"]) == (
        "completed",
        2,
        "completed",
    )
    assert (timed_out["attempt_number"], timed_out["call_status"]) == (1, "ringing")
    assert handed_back["attempt_number"] is None


async def test_contacts_query_keeps_to_its_campaign(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        mine = await seed.campaign(session, start=False)
        theirs = await seed.campaign(session, name="other", start=False)
        other = await seed.contact(session, theirs, "+919811111111", state="completed")
        await seed.attempt(session, other, state="ended", outcome="completed")
    rows = await _rows(runtime, contacts_query(mine))
    assert [row["phone"] for row in rows] == ["+919800000000"]


async def test_attempts_query_lists_every_attempt_by_contact_then_attempt(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        campaign_id = await seed.campaign(session, start=False)
        second = await seed.contact(
            session, campaign_id, "+919800000002", state="retrying", variables={"n": 2}
        )
        first = await seed.contact(session, campaign_id, "+919800000001", state="completed")
        a = await seed.attempt(
            session, second, state="ended", outcome="busy", call_id="call-a", session_id="s-a"
        )
        b = await seed.attempt(session, first, state="not_sent", error="429")
        c = await seed.attempt(
            session, first, state="ended", number=2, outcome="completed",
            transcript=[{"role": "agent", "text": "hi"}],
        )  # fmt: skip
        await seed.contact(session, campaign_id, "+919800000009", state="pending")

    rows = await _rows(runtime, attempts_query(campaign_id))

    assert [row["attempt_id"] for row in rows] == [a.id, b.id, c.id]
    assert [row["phone"] for row in rows] == ["+919800000002", "+919800000001", "+919800000001"]
    assert rows[0]["variables"] == {"n": 2}
    assert (rows[0]["attempt_state"], rows[0]["outcome"], rows[0]["call_id"]) == (
        "ended",
        "busy",
        "call-a",
    )
    assert rows[0]["session_id"] == "s-a"
    assert rows[0]["state"] == "retrying"  # the contact's state
    assert (rows[1]["attempt_state"], rows[1]["error"]) == ("not_sent", "429")
    assert rows[2]["transcript"] == [{"role": "agent", "text": "hi"}]
    assert rows[2]["attempt_number"] == 2


async def test_stream_rows_yields_plain_dicts_across_batches(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("campaign_engine.results.query.BATCH", 2)
    async with runtime.sessions() as session, session.begin():
        campaign_id = await seed.campaign(session, start=False)
        for index in range(1, 6):
            await seed.contact(session, campaign_id, f"+91980000001{index}", state="pending")
    rows = await _rows(runtime, contacts_query(campaign_id))
    assert len(rows) == 6
    assert all(type(row) is dict for row in rows)
    assert [row["contact_id"] for row in rows] == sorted(row["contact_id"] for row in rows)


async def test_names_in_use_are_the_variable_and_extraction_names_first_seen_first(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        campaign_id = await seed.campaign(session, start=False)  # its contact has no variables
        one = await seed.contact(
            session, campaign_id, "+919800000001", state="completed",
            variables={"name": "A", "city": "Pune"},
        )  # fmt: skip
        two = await seed.contact(
            session, campaign_id, "+919800000002", state="completed",
            variables={"city": "Goa", "amount": 5},
        )  # fmt: skip
        await seed.attempt(
            session, one, state="ended", extraction={"values": {"intent": "yes", "date": "x"}}
        )
        await seed.attempt(session, two, state="ended", extraction={"values": {"date": "y"}})
        await seed.attempt(session, two, state="ended", number=2, extraction={"summary": "s"})
        await seed.attempt(session, two, state="ended", number=3, extraction={"values": [1]})
        theirs = await seed.campaign(session, name="other", start=False)
        stranger = await seed.contact(
            session, theirs, "+919800000003", state="completed", variables={"secret": 1}
        )
        await seed.attempt(session, stranger, state="ended", extraction={"values": {"hidden": 1}})

    async with runtime.sessions() as session:
        variables, extraction = await names_in_use(session, campaign_id)

    assert variables == ["name", "city", "amount"]
    assert extraction == ["intent", "date"]


async def test_names_in_use_of_a_campaign_with_nothing_is_empty(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        campaign_id = await seed.campaign(session, start=False)
    async with runtime.sessions() as session:
        assert await names_in_use(session, campaign_id) == ([], [])
