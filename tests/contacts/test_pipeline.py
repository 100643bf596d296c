"""The import pipeline's ordering and reporting, beyond what test_import_pipeline pins: the
reject report is written in file order (not sorted afterwards), batch refusals follow their
batch, progress is reported once per written batch, and database records' cells reach the
report."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.importer import ImportOptions, import_csv, import_sql
from campaign_engine.contacts.summary import ImportSummary
from campaign_engine.db.models import Suppression
from tests.contacts.conftest import NewCampaign

Sessions = async_sessionmaker[AsyncSession]


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["phone", "name"], *rows])
    return path


def report_rows(path: Path) -> list[list[str]]:
    """The reject report's rows as written (no sorting): cells, line, reason, detail."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))[1:]


async def test_rows_refused_by_the_checks_are_reported_in_file_order_across_chunks(
    sqlite_sessions: Sessions, tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    rows = [
        ["9876543210", "a"],  # line 2
        ["12345", "bad"],  # 3: invalid
        ["9876543211", "b"],  # 4
        ["98765 43210", "a again"],  # 5: duplicate of line 2
        ["", "none"],  # 6: missing
        ["9876543212", "c"],  # 7
        ["+919876543211", "b again"],  # 8: duplicate of line 4
        ["999", "bad"],  # 9: invalid
    ]
    path = write_csv(tmp_path / "list.csv", rows)
    rejects = tmp_path / "rejects.csv"

    summary = await import_csv(
        sqlite_sessions,
        campaign_id,
        path,
        ImportOptions(workers=0, chunk_size=3, batch_size=2),
        rejects_path=rejects,
    )

    assert (summary.rows, summary.imported) == (8, 3)
    assert [(row[2], row[3]) for row in report_rows(rejects)] == [
        ("3", "invalid_number"),
        ("5", "duplicate_in_file"),
        ("6", "missing_phone"),
        ("8", "duplicate_in_file"),
        ("9", "invalid_number"),
    ]
    # An in-file duplicate keeps its own cells, not the first row's.
    assert report_rows(rejects)[1][:2] == ["98765 43210", "a again"]


async def test_suppressed_and_present_numbers_are_reported_when_their_batch_is_written(
    sessions: Sessions, tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    async with sessions() as session, session.begin():
        session.add(Suppression(kind="number", pattern="+919876543211", reason="asked"))
    await import_csv(
        sessions,
        campaign_id,
        write_csv(tmp_path / "first.csv", [["9876543212", "c"]]),
        ImportOptions(workers=0),
    )
    rows = [
        ["9876543210", "a"],  # 2: imported
        ["9876543211", "b"],  # 3: suppressed, refused with its batch
        ["12345", "bad"],  # 4: invalid, refused at once
        ["9876543212", "c"],  # 5: already in the campaign
    ]
    rejects = tmp_path / "rejects.csv"

    summary = await import_csv(
        sessions,
        campaign_id,
        write_csv(tmp_path / "list.csv", rows),
        ImportOptions(workers=0, batch_size=10),
        rejects_path=rejects,
    )

    assert summary.imported == 1
    written = report_rows(rejects)
    assert [(row[2], row[3]) for row in written] == [
        ("4", "invalid_number"),
        ("3", "suppressed"),
        ("5", "duplicate_in_campaign"),
    ]
    assert written[1][:2] == ["9876543211", "b"]
    # The report's formula guard quotes a cell that starts with "+".
    assert (
        written[1][4]
        == "'+919876543211 is on the do-not-call list: number +919876543211 (global): asked"
    )
    assert written[2][4] == "'+919876543212 is already in this campaign"


async def test_progress_is_reported_after_each_written_batch_and_once_at_the_end(
    sqlite_sessions: Sessions, tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    rows = [[f"98765432{index:02d}", "x"] for index in range(5)] + [["12345", "bad"]]
    seen: list[tuple[int, int]] = []

    def progress(summary: ImportSummary) -> None:
        seen.append((summary.imported, sum(summary.rejected.values())))

    await import_csv(
        sqlite_sessions,
        campaign_id,
        write_csv(tmp_path / "list.csv", rows),
        ImportOptions(workers=0, batch_size=2, chunk_size=100),
        progress=progress,
    )

    assert [imported for imported, _ in seen] == [2, 4, 5, 5]
    assert seen[-1] == (5, 1)


async def test_a_dry_run_counts_every_batch_but_leaves_the_next_run_everything_to_import(
    sqlite_sessions: Sessions, tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    path = write_csv(tmp_path / "list.csv", [[f"98765432{i:02d}", "x"] for i in range(5)])
    options = ImportOptions(workers=0, batch_size=2)

    dry = await import_csv(
        sqlite_sessions, campaign_id, path, ImportOptions(workers=0, batch_size=2, dry_run=True)
    )
    real = await import_csv(sqlite_sessions, campaign_id, path, options)

    assert (dry.imported, real.imported) == (5, 5)
    assert dry.rejected == real.rejected == {}


async def test_a_database_sources_duplicate_is_reported_with_its_records_cells(
    sqlite_sessions: Sessions, tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sqlite_sessions)
    crm = tmp_path / "crm.db"
    with sqlite3.connect(crm) as connection:
        connection.execute("CREATE TABLE leads (phone TEXT, name TEXT)")
        connection.executemany(
            "INSERT INTO leads VALUES (?, ?)",
            [("9876543210", "first"), ("12345", "bad"), ("+91 98765 43210", "second")],
        )
    rejects = tmp_path / "rejects.csv"

    summary = await import_sql(
        sqlite_sessions,
        campaign_id,
        f"sqlite:///{crm}",
        "SELECT phone, name FROM leads ORDER BY rowid",
        ImportOptions(phone_column="phone", workers=0, chunk_size=2),
        rejects_path=rejects,
    )

    assert summary.imported == 1
    assert [row[:4] for row in report_rows(rejects)] == [
        # A record's "line" is its position in the result, from 1.
        ["12345", "bad", "2", "invalid_number"],
        ["'+91 98765 43210", "second", "3", "duplicate_in_file"],
    ]
