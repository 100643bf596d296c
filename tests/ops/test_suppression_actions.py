"""Changes to the do-not-call list leave audit entries saying who, what and why — and
only for what changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from campaign_engine.contacts import suppression_list
from campaign_engine.contacts.suppression import NUMBER, PREFIX
from campaign_engine.contacts.suppression_list import import_entries
from campaign_engine.db.models import Suppression
from campaign_engine.journal import audit
from campaign_engine.ops import suppression_actions
from campaign_engine.runtime import Runtime
from tests.ops import seed

ASHA, PREFIX_1800 = (NUMBER, "+919876543210"), (PREFIX, "+1800")


def _targets(entries: list[audit.AuditView]) -> list[tuple[str, str, str, str]]:
    return [(e.action, e.actor, e.target_type, e.target_id) for e in entries]


async def test_each_entry_added_is_audited_with_actor_scope_and_reason_and_re_adding_is_not(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        cid = await seed.campaign(session)
    async with runtime.sessions() as session, session.begin():
        await suppression_actions.add(
            session, [ASHA, PREFIX_1800], actor="lead", campaign_id=cid, reason="asked"
        )
    async with runtime.sessions() as session, session.begin():
        again = await suppression_actions.add(session, [ASHA], actor="other", campaign_id=cid)

    assert (again.added, again.already) == (0, 1)
    async with runtime.sessions() as session:
        entries = await audit.entries(session)
        stored = (await session.scalars(select(Suppression.created_by))).all()
    assert sorted(_targets(entries)) == [
        ("suppress-add", "lead", "number", "+919876543210"),
        ("suppress-add", "lead", "prefix", "+1800"),
    ]
    assert {tuple(e.details.items()) for e in entries} == {
        (("campaign_id", cid), ("reason", "asked"))
    }
    assert stored == ["lead", "lead"]


async def test_a_removal_is_audited_with_its_reason_and_who_had_added_the_entry(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        await suppression_actions.add(session, [ASHA, PREFIX_1800], actor="lead", reason="asked")
    async with runtime.sessions() as session:
        prefix_id = await session.scalar(select(Suppression.id).where(Suppression.kind == PREFIX))
    assert prefix_id is not None
    async with runtime.sessions() as session, session.begin():
        removed = await suppression_actions.remove(
            session, [ASHA], entry_ids=[prefix_id], actor="ravi", reason="called back, consents"
        )

    assert removed == 2
    async with runtime.sessions() as session:
        left = (await session.scalars(select(Suppression))).all()
        removals = await audit.entries(session, target_type="number", target_id=ASHA[1])
        by_id = await audit.entries(session, target_type="prefix", target_id="+1800")
    assert left == []
    assert [(e.action, e.actor) for e in removals] == [
        ("suppress-remove", "ravi"),
        ("suppress-add", "lead"),
    ]
    details = removals[0].details
    assert (details["reason"], details["added_by"], details["added_reason"]) == (
        "called back, consents", "lead", "asked",
    )  # fmt: skip
    assert details["campaign_id"] is None
    assert by_id[0].action == "suppress-remove" and by_id[0].details["entry_id"] == prefix_id


async def test_a_refused_removal_leaves_neither_the_change_nor_an_entry(runtime: Runtime) -> None:
    async with runtime.sessions() as session, session.begin():
        await suppression_actions.add(session, [ASHA], actor="lead")
    with pytest.raises(LookupError, match="entry 999 not found"):
        async with runtime.sessions() as session, session.begin():
            await suppression_actions.remove(session, [ASHA], entry_ids=[999], actor="ravi")

    async with runtime.sessions() as session:
        assert len((await session.scalars(select(Suppression))).all()) == 1
        assert [e.action for e in await audit.entries(session)] == ["suppress-add"]


async def test_an_import_is_audited_once_per_committed_batch_with_its_counts(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suppression_list, "IMPORT_BATCH", 2)
    path = tmp_path / "dnc.csv"
    path.write_text("phone\n9876543210\n9876543211\n9876543212\nnot a number\n", "utf-8")
    async with runtime.sessions() as session, session.begin():
        await suppression_actions.add(session, [ASHA], actor="lead")

    summary = await import_entries(
        runtime.sessions, path, default_region="IN", created_by="ravi",
        after_batch=suppression_actions.import_audit(
            path, actor="ravi", campaign_id=None, reason="from the CRM"
        ),
    )  # fmt: skip

    assert (summary.added, summary.already) == (2, 1)
    async with runtime.sessions() as session:
        batches = await audit.entries(session, target_type="file", target_id="dnc.csv")
    assert [(e.action, e.actor) for e in batches] == [("suppress-import", "ravi")] * 2
    counts = sorted((e.details["added"], e.details["already"]) for e in batches)
    assert counts == [(1, 0), (1, 1)]
    assert {(e.details["file"], e.details["reason"]) for e in batches} == {
        (str(path), "from the CRM")
    }
