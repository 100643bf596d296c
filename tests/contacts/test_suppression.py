"""The do-not-call list: the import-time batch check agrees with the dial-time check, and
entries are added, removed, listed and bulk-imported per scope."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.suppression import (
    NUMBER,
    PREFIX,
    describe,
    suppressed_among,
    suppression_for,
)
from campaign_engine.contacts.suppression_list import (
    add_entries,
    import_entries,
    list_entries,
    number_pattern,
    prefix_pattern,
    remove_by_id,
    remove_entries,
)
from campaign_engine.db.models import Suppression
from tests.contacts.conftest import NewCampaign


async def test_batch_check_finds_what_the_dial_time_check_finds_for_every_number(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id, other = await new_campaign(sessions), await new_campaign(sessions)
    async with sessions() as session, session.begin():
        session.add(Suppression(kind=NUMBER, pattern="+919800000001", reason="asked"))
        session.add(Suppression(kind=PREFIX, pattern="+1800", campaign_id=campaign_id))
        session.add(Suppression(kind=NUMBER, pattern="+919800000002", campaign_id=other))
        session.add(Suppression(kind=PREFIX, pattern="+91980000000"))  # newer: loses to the first
    numbers = ["+919800000001", "+18005550100", "+919800000002", "+919811111111", "+12015550123"]

    async with sessions() as session:
        batch = await suppressed_among(session, numbers, campaign_id)
        one_by_one = {n: await suppression_for(session, n, campaign_id) for n in numbers}

    assert {n: e.id for n, e in batch.items()} == {
        n: e.id for n, e in one_by_one.items() if e is not None
    }
    assert batch["+919800000001"].kind == NUMBER  # the oldest matching entry wins
    assert batch["+919800000002"].kind == PREFIX  # the other campaign's entry does not apply
    assert describe(batch["+18005550100"]) == f"prefix +1800 (campaign {campaign_id})"


async def test_batch_check_of_thousands_of_numbers_is_one_parameter(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        session.add(Suppression(kind=NUMBER, pattern="+919800004999"))
    numbers = [f"+91980000{index:04d}" for index in range(5000)]  # past SQLite's 999 limit

    async with sessions() as session:
        assert list(await suppressed_among(session, numbers, None)) == ["+919800004999"]


async def test_added_numbers_are_stored_in_e164_and_adding_them_again_is_a_no_op(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    entries = [(NUMBER, number_pattern("098765 43210", "IN")), (PREFIX, prefix_pattern("+1 800"))]
    async with sessions() as session, session.begin():
        first = await add_entries(session, entries, reason="complaint", created_by="asha")
    async with sessions() as session, session.begin():
        again = await add_entries(session, entries)

    assert (first.added, first.already, again.added, again.already) == (2, 0, 0, 2)
    async with sessions() as session:
        stored = await list_entries(session)
    assert [(e.kind, e.pattern, e.reason, e.created_by) for e in stored] == [
        ("number", "+919876543210", "complaint", "asha"),
        ("prefix", "+1800", "complaint", "asha"),
    ]
    assert all(entry.created_at is not None for entry in stored)


@pytest.mark.parametrize("prefix", ["1800", "+", "+0800", "+1800x"])
def test_prefixes_must_be_international_digits(prefix: str) -> None:
    with pytest.raises(ValueError, match="international form"):
        prefix_pattern(prefix)


def test_a_number_that_is_not_valid_cannot_be_suppressed() -> None:
    with pytest.raises(ValueError, match="cannot suppress '12345'"):
        number_pattern("12345", "IN")


async def test_campaign_entries_are_listed_with_the_global_ones_and_removed_per_scope(
    sessions: async_sessionmaker[AsyncSession],
    new_campaign: NewCampaign,
) -> None:
    campaign_id, other = await new_campaign(sessions), await new_campaign(sessions)
    entry = [(NUMBER, "+919876543210")]
    async with sessions() as session, session.begin():
        await add_entries(session, entry)
        await add_entries(session, entry, campaign_id=campaign_id)
        await add_entries(session, [(NUMBER, "+919876543211")], campaign_id=other)

    async with sessions() as session:
        listed = await list_entries(session, campaign_id)
    assert [(e.pattern, e.campaign_id) for e in listed] == [
        ("+919876543210", None),
        ("+919876543210", campaign_id),
    ]
    async with sessions() as session, session.begin():
        assert len(await remove_entries(session, entry, campaign_id=campaign_id)) == 1
        assert await remove_entries(session, entry, campaign_id=campaign_id) == []
        await remove_by_id(session, listed[0].id)
    async with sessions() as session:
        assert [e.campaign_id for e in await list_entries(session)] == [other]


async def test_adding_to_an_unknown_campaign_is_refused(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        with pytest.raises(LookupError, match="campaign nope not found"):
            await add_entries(session, [(NUMBER, "+919876543210")], campaign_id="nope")


async def test_importing_a_list_adds_its_numbers_with_their_reasons_and_reports_bad_rows(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "dnc.csv"
    path.write_text(
        "Phone;Reason\n98765 43210;lawyer\n+91 98765 43211;\nnot a number;x\n9876543210;dup\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"

    summary = await import_entries(
        sessions, path, default_region="IN", reason="bulk", rejects_path=rejects
    )
    again = await import_entries(sessions, path, default_region="IN")

    assert summary.to_dict() == {
        "file": str(path),
        "phone_column": "Phone",
        "rows": 4,
        "added": 2,
        "already": 0,
        "rejected": 2,
        "rejected_by_reason": {"invalid_number": 1, "duplicate_in_file": 1},
    }
    assert (again.added, again.already) == (0, 2)
    async with sessions() as session:
        assert [(e.pattern, e.reason) for e in await list_entries(session)] == [
            ("+919876543210", "lawyer"),
            ("+919876543211", "bulk"),
        ]
    report = rejects.read_text(encoding="utf-8-sig").splitlines()
    assert [line.split(",")[2:4] for line in report[1:]] == [
        ["4", "invalid_number"],
        ["5", "duplicate_in_file"],
    ]


async def test_a_reject_report_over_the_list_being_imported_is_refused_before_anything_is_written(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    path = tmp_path / "dnc.csv"
    path.write_text("Phone\n98765 43210\nnot a number\n", encoding="utf-8")
    before = path.read_bytes()
    (tmp_path / "sub").mkdir()

    with pytest.raises(ValueError, match="is the file being imported"):
        await import_entries(
            sessions, path, default_region="IN", rejects_path=tmp_path / "sub" / ".." / "dnc.csv"
        )

    assert path.read_bytes() == before
    async with sessions() as session:
        assert await list_entries(session) == []
