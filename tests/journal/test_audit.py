"""The audit log: who did what to which target, written in the action's transaction."""

from __future__ import annotations

import getpass

import pytest

from campaign_engine.journal.audit import DEFAULT_ACTOR, AuditView, default_actor, entries, record
from campaign_engine.runtime import Runtime


def test_default_actor_is_the_login_running_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "asha")
    assert default_actor() == "asha"


def test_default_actor_is_cut_to_the_column_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "x" * 100)
    assert default_actor() == "x" * 64


@pytest.mark.parametrize("error", [KeyError("uid"), OSError("no login")])
def test_default_actor_falls_back_when_the_login_is_unknown(
    monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    def fail() -> str:
        raise error

    monkeypatch.setattr(getpass, "getuser", fail)
    assert default_actor() == DEFAULT_ACTOR == "operator"


def test_default_actor_falls_back_for_an_empty_login(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", lambda: "")
    assert default_actor() == "operator"


async def test_a_recorded_action_reads_back_with_its_details(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await record(
            session,
            actor="asha",
            action="campaign.pause",
            target_type="campaign",
            target_id="c-1",
            details={"reason": "carrier outage", "queued": 3},
        )
    async with runtime.sessions() as session:
        [entry] = await entries(session)
    assert isinstance(entry, AuditView)
    assert (entry.actor, entry.action, entry.target_type, entry.target_id) == (
        "asha",
        "campaign.pause",
        "campaign",
        "c-1",
    )
    assert entry.details == {"reason": "carrier outage", "queued": 3}
    assert entry.at.tzinfo is not None


async def test_an_integer_target_id_is_stored_as_text_and_no_details_as_empty(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        await record(
            session, actor="ravi", action="contact.requeue", target_type="contact", target_id=42
        )
    async with runtime.sessions() as session:
        [entry] = await entries(session, target_type="contact", target_id="42")
    assert entry.target_id == "42"
    assert entry.details == {}


async def test_a_long_actor_is_cut_to_64_characters(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await record(session, actor="a" * 80, action="x", target_type="t", target_id="1")
    async with runtime.sessions() as session:
        [entry] = await entries(session)
    assert entry.actor == "a" * 64


async def test_entries_come_latest_first_and_are_limited(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        for index in range(5):
            await record(
                session, actor="op", action=f"step{index}", target_type="campaign", target_id="c"
            )
    async with runtime.sessions() as session:
        latest = await entries(session, limit=3)
        everything = await entries(session)
    assert [entry.action for entry in latest] == ["step4", "step3", "step2"]
    assert [entry.action for entry in everything] == [f"step{i}" for i in range(4, -1, -1)]


async def test_entries_filter_by_target_type_and_id(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await record(session, actor="op", action="a", target_type="campaign", target_id="1")
        await record(session, actor="op", action="b", target_type="contact", target_id="1")
        await record(session, actor="op", action="c", target_type="campaign", target_id="2")
    async with runtime.sessions() as session:
        campaigns = await entries(session, target_type="campaign")
        one = await entries(session, target_id="1")
        exact = await entries(session, target_type="campaign", target_id="2")
        none = await entries(session, target_type="suppression")
    assert [e.action for e in campaigns] == ["c", "a"]
    assert [e.action for e in one] == ["b", "a"]
    assert [e.action for e in exact] == ["c"]
    assert none == []


async def test_an_entry_is_lost_with_its_actions_rolled_back_transaction(
    runtime: Runtime,
) -> None:
    with pytest.raises(RuntimeError):
        async with runtime.sessions() as session, session.begin():
            await record(session, actor="op", action="x", target_type="t", target_id="1")
            raise RuntimeError("the action failed")
    async with runtime.sessions() as session:
        assert await entries(session) == []
