"""Keeping the do-not-call list: pattern normalization, adds within one call and across
scopes, removals, listing, and bulk imports in committed batches."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts import suppression_list
from campaign_engine.contacts.suppression import NUMBER, PREFIX
from campaign_engine.contacts.suppression_list import (
    AddResult,
    SuppressionImport,
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

Sessions = async_sessionmaker[AsyncSession]


async def stored(sessions: Sessions, campaign_id: str | None = None) -> list[Suppression]:
    async with sessions() as session:
        return await list_entries(session, campaign_id)


# --- patterns (pure) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        ("+1800", "+1800"),
        ("  +1 800  ", "+1800"),
        ("+1 (800) 555-01", "+180055501"),
        ("+91.98", "+9198"),
        ("001800", "+1800"),  # the international dialling prefix
        ("00 44 20", "+4420"),
        ("+1" + "2" * 14, "+1" + "2" * 14),  # 15 digits: the longest E.164 number
    ],
)
def test_a_prefix_is_stored_in_international_form_without_separators(
    raw: str, pattern: str
) -> None:
    assert prefix_pattern(raw) == pattern


@pytest.mark.parametrize("raw", ["", "00", "+1" + "2" * 15, "+1/800", "0800"])
def test_a_prefix_too_long_empty_or_not_international_is_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="must be '\\+' and the leading digits"):
        prefix_pattern(raw)


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("+91 98765 43210", None),
        ("098765 43210", "IN"),
        ("98765-43210", "in"),
        ("+919876543210", "US"),
    ],
)
def test_every_spelling_of_a_number_is_the_same_e164_pattern(raw: str, region: str | None) -> None:
    assert number_pattern(raw, region) == "+919876543210"


def test_a_national_number_without_a_region_cannot_be_suppressed() -> None:
    with pytest.raises(ValueError, match="cannot suppress '9876543210'"):
        number_pattern("9876543210", None)


def test_an_unknown_default_region_is_refused_as_such() -> None:
    with pytest.raises(ValueError, match="unknown default region 'XX'"):
        number_pattern("9876543210", "XX")


def test_add_result_counts_the_entries_it_added() -> None:
    assert AddResult().added == 0
    assert AddResult(new=[(NUMBER, "+1"), (PREFIX, "+1")], already=3).added == 2


# --- add, remove, list ---------------------------------------------------------------------


async def test_an_entry_repeated_within_one_call_is_added_once(sessions: Sessions) -> None:
    entries = [(NUMBER, "+919876543210"), (NUMBER, "+919876543210"), (PREFIX, "+1800")]
    async with sessions() as session, session.begin():
        result = await add_entries(session, entries)

    assert result.new == [(NUMBER, "+919876543210"), (PREFIX, "+1800")]
    assert (result.added, result.already) == (2, 1)
    assert [(e.kind, e.pattern) for e in await stored(sessions)] == [
        (NUMBER, "+919876543210"),
        (PREFIX, "+1800"),
    ]


async def test_the_same_pattern_as_a_number_and_as_a_prefix_are_two_entries(
    sessions: Sessions,
) -> None:
    async with sessions() as session, session.begin():
        await add_entries(session, [(NUMBER, "+919876543210")])
    async with sessions() as session, session.begin():
        result = await add_entries(session, [(PREFIX, "+919876543210")])

    assert (result.added, result.already) == (1, 0)


async def test_a_global_entry_and_a_campaign_entry_for_the_same_number_are_both_kept(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    entry = [(NUMBER, "+919876543210")]
    async with sessions() as session, session.begin():
        global_add = await add_entries(session, entry)
        campaign_add = await add_entries(session, entry, campaign_id=campaign_id)
        campaign_again = await add_entries(session, entry, campaign_id=campaign_id)

    assert (global_add.added, campaign_add.added, campaign_again.already) == (1, 1, 1)
    assert [e.campaign_id for e in await stored(sessions)] == [None, campaign_id]


async def test_per_entry_reasons_override_the_common_reason_unless_empty(
    sessions: Sessions,
) -> None:
    entries = [(NUMBER, "+919876543210"), (NUMBER, "+919876543211"), (NUMBER, "+919876543212")]
    async with sessions() as session, session.begin():
        await add_entries(session, entries, reason="bulk", reasons=["lawyer", "", None])

    assert [(e.pattern, e.reason, e.created_by) for e in await stored(sessions)] == [
        ("+919876543210", "lawyer", "operator"),
        ("+919876543211", "bulk", "operator"),
        ("+919876543212", "bulk", "operator"),
    ]


async def test_adding_nothing_adds_nothing_but_still_checks_the_campaign(
    sessions: Sessions,
) -> None:
    async with sessions() as session:
        assert await add_entries(session, []) == AddResult()
        with pytest.raises(LookupError, match="campaign missing not found"):
            await add_entries(session, [], campaign_id="missing")
    assert await stored(sessions) == []


async def test_removing_globally_leaves_campaign_entries_alone(
    sessions: Sessions, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    entry = [(NUMBER, "+919876543210")]
    async with sessions() as session, session.begin():
        await add_entries(session, entry)
        await add_entries(session, entry, campaign_id=campaign_id)
    async with sessions() as session, session.begin():
        removed = await remove_entries(session, [*entry, (PREFIX, "+1800")])

    assert [(e.pattern, e.campaign_id) for e in removed] == [("+919876543210", None)]
    assert [e.campaign_id for e in await stored(sessions)] == [campaign_id]


async def test_removing_an_unknown_entry_id_is_refused(sessions: Sessions) -> None:
    async with sessions() as session:
        with pytest.raises(LookupError, match="suppression entry 999 not found"):
            await remove_by_id(session, 999)


async def test_listing_is_in_the_order_added_and_can_be_limited(sessions: Sessions) -> None:
    patterns = [f"+91987654321{i}" for i in range(4)]
    async with sessions() as session, session.begin():
        for pattern in reversed(patterns):
            await add_entries(session, [(NUMBER, pattern)])

    async with sessions() as session:
        everything = await list_entries(session)
        first_two = await list_entries(session, limit=2)

    assert [e.pattern for e in everything] == list(reversed(patterns))
    assert [e.id for e in first_two] == [e.id for e in everything[:2]]


# --- import --------------------------------------------------------------------------------


def dnc_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "dnc.csv"
    path.write_text(text, encoding="utf-8")
    return path


async def test_an_import_for_a_campaign_adds_campaign_entries_by_its_author(
    sessions: Sessions, new_campaign: NewCampaign, tmp_path: Path
) -> None:
    campaign_id = await new_campaign(sessions)
    path = dnc_file(tmp_path, "name,mobile\nA,+919876543210\nB,+14155550100\n")

    summary = await import_entries(
        sessions,
        path,
        campaign_id=campaign_id,
        reason="campaign opt-out",
        created_by="asha",
        phone_column="mobile",
    )

    assert (summary.phone_column, summary.rows, summary.added) == ("mobile", 2, 2)
    assert [(e.pattern, e.campaign_id, e.reason, e.created_by) for e in await stored(sessions)] == [
        ("+919876543210", campaign_id, "campaign opt-out", "asha"),
        ("+14155550100", campaign_id, "campaign opt-out", "asha"),
    ]


async def test_an_import_for_an_unknown_campaign_is_refused_before_reading(
    sessions: Sessions, tmp_path: Path
) -> None:
    with pytest.raises(LookupError, match="campaign gone not found"):
        await import_entries(sessions, tmp_path / "does-not-exist.csv", campaign_id="gone")


async def test_a_header_only_file_imports_nothing(sessions: Sessions, tmp_path: Path) -> None:
    calls: list[AddResult] = []

    async def after_batch(session: AsyncSession, added: AddResult) -> None:
        calls.append(added)

    summary = await import_entries(sessions, dnc_file(tmp_path, "phone\n"), after_batch=after_batch)

    assert (summary.rows, summary.added, summary.already) == (0, 0, 0)
    assert calls == []
    assert await stored(sessions) == []


async def test_a_reason_column_is_found_whatever_its_spelling(
    sessions: Sessions, tmp_path: Path
) -> None:
    path = dnc_file(tmp_path, "phone, REASON \n+919876543210,  asked twice \n")

    await import_entries(sessions, path, reason="fallback")

    assert [e.reason for e in await stored(sessions)] == ["asked twice"]


async def test_each_batch_commits_with_its_after_batch_hook_and_a_failed_one_alone_rolls_back(
    sessions: Sessions, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suppression_list, "IMPORT_BATCH", 2)
    numbers = [f"+91987654321{i}" for i in range(5)]
    path = dnc_file(tmp_path, "phone\n" + "\n".join(numbers) + "\n")
    seen: list[list[tuple[str, str]]] = []

    async def after_batch(session: AsyncSession, added: AddResult) -> None:
        seen.append(added.new)
        if len(seen) == 2:
            raise RuntimeError("audit failed")

    with pytest.raises(RuntimeError, match="audit failed"):
        await import_entries(sessions, path, after_batch=after_batch)

    assert seen == [
        [(NUMBER, numbers[0]), (NUMBER, numbers[1])],
        [(NUMBER, numbers[2]), (NUMBER, numbers[3])],
    ]
    # The first batch was committed; the second rolled back with its hook; none after ran.
    assert [e.pattern for e in await stored(sessions)] == numbers[:2]

    seen.clear()
    summary = await import_entries(sessions, path, after_batch=lambda s, a: _record(seen, a))
    assert (summary.added, summary.already) == (3, 2)
    assert [len(batch) for batch in seen] == [0, 2, 1]


async def _record(seen: list[list[tuple[str, str]]], added: AddResult) -> None:
    seen.append(added.new)


def test_the_import_summary_totals_its_rejections() -> None:
    summary = SuppressionImport(file="dnc.csv", phone_column="phone", rows=5, added=2)
    summary.rejected["invalid_number"] += 2
    summary.rejected["duplicate_in_file"] += 1

    assert summary.to_dict() == {
        "file": "dnc.csv",
        "phone_column": "phone",
        "rows": 5,
        "added": 2,
        "already": 0,
        "rejected": 3,
        "rejected_by_reason": {"invalid_number": 2, "duplicate_in_file": 1},
    }
