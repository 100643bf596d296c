"""Large-import behaviour on a real database: checking in worker processes changes nothing,
batches are whole, suppressed numbers are refused, and the agent's contract is enforced."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.importer import (
    ImportOptions,
    ImportRefused,
    ImportSummary,
    import_csv,
)
from campaign_engine.db.models import Campaign, Contact, Suppression
from tests.contacts.conftest import NewCampaign
from tests.harness import AGENT_ID

HEADER = ["phone", "name", "city"]


def write_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([HEADER, *rows])
    return path


def mixed_rows() -> list[list[str]]:
    """25 rows: valid numbers in several forms, invalid ones, and repeats far apart."""
    rows = []
    for index in range(20):
        number = f"98765432{index:02d}"
        cell = (number, f"+91 {number[:5]} {number[5:]}", f"0{number}")[index % 3]
        rows.append([cell if index % 7 else "12345", f"P{index}", "Pune"])
    rows += [["9876543201", "again", "X"], ["98765 43219", "again", "Y"], ["", "none", "Z"]]
    rows += [["9876543299", "last", "Goa"], ["+919876543202", "again", "Z"]]
    return rows


async def stored(
    sessions: async_sessionmaker[AsyncSession], campaign_id: str
) -> dict[str, dict[str, object]]:
    async with sessions() as session:
        found = await session.scalars(select(Contact).where(Contact.campaign_id == campaign_id))
        return {c.phone_e164: {"line": c.source_line, **c.variables} for c in found}


def report(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return sorted(list(csv.reader(handle))[1:], key=lambda row: int(row[3]))


async def test_worker_processes_import_exactly_what_one_process_imports(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    path = write_csv(tmp_path / "list.csv", mixed_rows())
    serial, parallel = await new_campaign(sessions), await new_campaign(sessions)
    outcomes: list[ImportSummary] = []
    for campaign_id, options in (
        (serial, ImportOptions(workers=0)),
        (parallel, ImportOptions(workers=2, chunk_size=3, batch_size=4)),
    ):
        rejects = tmp_path / f"{campaign_id}.csv"
        outcomes.append(
            await import_csv(sessions, campaign_id, path, options, rejects_path=rejects)
        )

    assert outcomes[0].to_dict() == outcomes[1].to_dict()
    assert outcomes[1].imported == 18
    assert dict(outcomes[1].rejected) == {
        "invalid_number": 3,
        "duplicate_in_file": 3,
        "missing_phone": 1,
    }
    assert await stored(sessions, serial) == await stored(sessions, parallel)
    assert report(tmp_path / f"{serial}.csv") == report(tmp_path / f"{parallel}.csv")


async def test_the_first_row_with_a_number_wins_across_chunks_and_batches(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    path = write_csv(tmp_path / "list.csv", mixed_rows())

    await import_csv(
        sqlite_sessions,
        campaign_id,
        path,
        ImportOptions(workers=0, chunk_size=2, batch_size=3),
        rejects_path=tmp_path / "rejects.csv",
    )

    contacts = await stored(sqlite_sessions, campaign_id)
    assert contacts["+919876543201"] == {"line": 3, "name": "P1", "city": "Pune"}
    assert contacts["+919876543219"]["name"] == "P19"
    duplicates = [
        row[3] for row in report(tmp_path / "rejects.csv") if row[4] == "duplicate_in_file"
    ]
    assert duplicates == ["22", "23", "26"]


async def test_interrupted_parallel_import_keeps_whole_batches_and_a_rerun_completes_it(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    path = write_csv(tmp_path / "list.csv", mixed_rows())
    options = ImportOptions(workers=2, chunk_size=3, batch_size=5)

    class Interrupted(Exception):
        pass

    def interrupt(summary: ImportSummary) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await import_csv(sessions, campaign_id, path, options, progress=interrupt)
    assert len(await stored(sessions, campaign_id)) == 5

    rerun = await import_csv(sessions, campaign_id, path, options)

    assert (rerun.imported, rerun.rejected["duplicate_in_campaign"]) == (13, 5)
    assert len(await stored(sessions, campaign_id)) == 18


async def test_suppressed_numbers_are_rejected_at_import_with_the_entry_that_forbids_them(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id, other = await new_campaign(sessions), await new_campaign(sessions)
    async with sessions() as session, session.begin():
        session.add(Suppression(kind="number", pattern="+919876543201", reason="asked not to"))
        session.add(Suppression(kind="prefix", pattern="+91987654321", campaign_id=campaign_id))
        session.add(Suppression(kind="number", pattern="+919876543202", campaign_id=other))
    path = write_csv(tmp_path / "list.csv", mixed_rows())
    rejects = tmp_path / "rejects.csv"

    summary = await import_csv(
        sessions, campaign_id, path, ImportOptions(batch_size=4), rejects_path=rejects
    )

    assert summary.rejected["suppressed"] == 10  # +919876543201 and +91987654321x (10..19)
    contacts = await stored(sessions, campaign_id)
    assert "+919876543201" not in contacts and "+919876543215" not in contacts
    assert "+919876543202" in contacts  # another campaign's entry does not apply here
    suppressed = {row[3]: row[5] for row in report(rejects) if row[4] == "suppressed"}
    # A detail that starts with "+" would be a formula in a spreadsheet: written as text.
    assert suppressed["3"] == (
        "'+919876543201 is on the do-not-call list: number +919876543201 (global): asked not to"
    )
    assert suppressed["12"].endswith(f"prefix +91987654321 (campaign {campaign_id})")


async def test_drop_undeclared_leaves_out_the_columns_the_agent_does_not_declare(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions, agent_variables=["name", "ce_attempt_id"])
    path = write_csv(tmp_path / "list.csv", [["9876543210", "Asha", "Pune"]])
    options = ImportOptions(engine_variables=("ce_attempt_id",))

    with pytest.raises(ImportRefused, match="--drop-undeclared"):
        await import_csv(sqlite_sessions, campaign_id, path, options)
    summary = await import_csv(
        sqlite_sessions,
        campaign_id,
        path,
        ImportOptions(engine_variables=("ce_attempt_id",), drop_undeclared=True),
    )

    assert (summary.imported, summary.variables, summary.dropped) == (1, ("name",), ("city",))
    assert summary.to_dict()["dropped_columns"] == ["city"]
    assert await stored(sqlite_sessions, campaign_id) == {
        "+919876543210": {"line": 2, "name": "Asha"}
    }


async def test_the_agents_variables_are_asked_for_once_and_kept_on_the_campaign(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    asked: list[str] = []

    async def lookup(agent_id: str) -> list[str]:
        asked.append(agent_id)
        return ["name", "city"]

    path = write_csv(tmp_path / "list.csv", [["9876543210", "Asha", "Pune"]])
    dry = await import_csv(
        sqlite_sessions, campaign_id, path, ImportOptions(dry_run=True), agent_lookup=lookup
    )
    await import_csv(sqlite_sessions, campaign_id, path, ImportOptions(), agent_lookup=lookup)
    await import_csv(sqlite_sessions, campaign_id, path, ImportOptions(), agent_lookup=lookup)

    assert dry.imported == 1
    assert asked == [AGENT_ID, AGENT_ID]  # the dry run stored nothing; the import did
    async with sqlite_sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None and campaign.agent_variables == ["name", "city"]
        assert await session.scalar(select(func.count()).select_from(Contact)) == 1


async def test_a_file_the_fetched_agent_would_refuse_is_refused_before_any_row(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)

    async def lookup(agent_id: str) -> list[str]:
        return ["name"]

    path = write_csv(tmp_path / "list.csv", [["9876543210", "Asha", "Pune"]])
    with pytest.raises(ImportRefused, match="columns the agent does not declare: city"):
        await import_csv(sqlite_sessions, campaign_id, path, ImportOptions(), agent_lookup=lookup)
    assert await stored(sqlite_sessions, campaign_id) == {}


async def test_byte_chunks_import_what_reading_the_file_record_by_record_imports(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    """A CSV file is cut into byte chunks the workers parse; a UTF-16 one (which cannot be
    cut as bytes) is read record by record here. Same rows, awkward ones included, give the
    same contacts, counts and report."""
    text = (
        'phone;name;note\r\n98765 43210;"Asha ""A""";"two\r\nlines"\r\n12345;Bad;x\r\n'
        '\r\n+91 98765 43211;Zoë;he said "hi"\r\n9876543210;again;"dup; of line 2"\r\n'
        '09876543212;trunk;"a\nb"\r\n9876543213;Ravi;ok;extra\r\n'
    )
    cut, whole = tmp_path / "cut.csv", tmp_path / "whole.csv"
    cut.write_bytes(text.encode("cp1252"))
    whole.write_bytes(text.encode("utf-16"))
    results = []
    for path in (cut, whole):
        campaign_id = await new_campaign(sessions)
        rejects = tmp_path / f"{path.stem}-rejects.csv"
        options = ImportOptions(workers=2, chunk_size=1, batch_size=2)
        summary = await import_csv(sessions, campaign_id, path, options, rejects_path=rejects)
        results.append(
            (
                {**summary.to_dict(), "file": "", "encoding": ""},
                await stored(sessions, campaign_id),
                report(rejects),
            )
        )

    assert results[0] == results[1]
    summary, contacts, _ = results[0]
    assert (summary["imported"], summary["rejected"]) == (3, 3)
    assert contacts["+919876543210"] == {"line": 2, "name": 'Asha "A"', "note": "two\r\nlines"}
    assert contacts["+919876543212"]["line"] == 8
