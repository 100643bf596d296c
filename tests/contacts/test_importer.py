"""Importing CSV files into a campaign on a real database: every row imported or reported."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.campaigns import service
from campaign_engine.contacts.importer import (
    ImportOptions,
    ImportRefused,
    ImportSummary,
    import_csv,
)
from campaign_engine.contacts.suppression import NUMBER
from campaign_engine.contacts.suppression_list import add_entries, number_pattern
from campaign_engine.db.models import Campaign, Contact
from tests.contacts.conftest import NewCampaign
from tests.harness import AGENT_ID

ENGINE_VARIABLES = ("ce_attempt_id",)


async def contacts_of(
    sessions: async_sessionmaker[AsyncSession], campaign_id: str
) -> dict[str, Contact]:
    async with sessions() as session:
        rows = await session.scalars(select(Contact).where(Contact.campaign_id == campaign_id))
        return {contact.phone_e164: contact for contact in rows}


async def count_contacts(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Contact)) or 0)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


async def run_import(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: str,
    path: Path,
    **options: object,
) -> ImportSummary:
    rejects = options.pop("rejects_path", None)
    return await import_csv(
        sessions,
        campaign_id,
        path,
        ImportOptions(**options),  # type: ignore[arg-type]
        rejects_path=rejects,  # type: ignore[arg-type]
    )


HEADER = ["Phone Number", "First Name", "City"]
FIRST = [
    HEADER,
    ["98765 43210", "Asha", "Pune"],
    ["+91 98765-43211", "Ravi", "Delhi"],
    ["0091 9876543212", "Meera", "Goa"],
]


async def test_import_adds_each_contact_with_its_e164_number_and_variables(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    summary = await run_import(sessions, campaign_id, write_csv(tmp_path / "a.csv", FIRST))

    assert (summary.rows, summary.imported, sum(summary.rejected.values())) == (3, 3, 0)
    assert summary.phone_column == "Phone Number"
    assert summary.variables == ("first_name", "city")
    contacts = await contacts_of(sessions, campaign_id)
    assert set(contacts) == {"+919876543210", "+919876543211", "+919876543212"}
    asha = contacts["+919876543210"]
    assert asha.variables == {"first_name": "Asha", "city": "Pune"}
    assert (asha.state, asha.attempts_count, asha.region) == ("pending", 0, "IN")
    assert asha.timezones == ["Asia/Calcutta"]
    assert asha.source_line == 2
    assert asha.next_attempt_at is not None


async def test_reimporting_the_same_file_adds_nobody_and_reports_every_row_as_in_campaign(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    path = write_csv(tmp_path / "a.csv", FIRST)
    await run_import(sessions, campaign_id, path)

    rejects = tmp_path / "rejects.csv"
    again = await run_import(sessions, campaign_id, path, rejects_path=rejects)

    assert (again.rows, again.imported) == (3, 0)
    assert dict(again.rejected) == {"duplicate_in_campaign": 3}
    assert await count_contacts(sessions) == 3
    report = read_csv(rejects)
    assert report[0] == [*HEADER, "_line", "_reason", "_detail"]
    assert [row[3:5] for row in report[1:]] == [
        ["2", "duplicate_in_campaign"],
        ["3", "duplicate_in_campaign"],
        ["4", "duplicate_in_campaign"],
    ]


async def test_overlapping_second_file_adds_only_the_new_numbers(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    await run_import(sessions, campaign_id, write_csv(tmp_path / "a.csv", FIRST))
    second = [
        HEADER,
        ["9876543211", "Ravi again", "Delhi"],  # already there, written differently
        ["9876543213", "Kiran", "Chennai"],
        ["9876543214", "Zoya", "Mumbai"],
    ]
    summary = await run_import(sessions, campaign_id, write_csv(tmp_path / "b.csv", second))

    assert (summary.rows, summary.imported) == (3, 2)
    assert dict(summary.rejected) == {"duplicate_in_campaign": 1}
    contacts = await contacts_of(sessions, campaign_id)
    assert len(contacts) == 5
    # The existing contact keeps its first variables.
    assert contacts["+919876543211"].variables["first_name"] == "Ravi"


async def test_same_numbers_in_another_campaign_are_not_duplicates(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    path = write_csv(tmp_path / "a.csv", FIRST)
    first = await new_campaign(sessions)
    second = await new_campaign(sessions)
    await run_import(sessions, first, path)
    summary = await run_import(sessions, second, path)

    assert summary.imported == 3
    assert await count_contacts(sessions) == 6


async def test_dry_run_reports_what_would_happen_and_writes_nothing(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    rows = [*FIRST, ["12345", "Bad", "Nowhere"], ["98765 43210", "Asha twice", "Pune"]]
    summary = await run_import(
        sessions, campaign_id, write_csv(tmp_path / "a.csv", rows), dry_run=True
    )

    assert summary.dry_run is True
    assert (summary.rows, summary.imported) == (5, 3)
    assert dict(summary.rejected) == {"invalid_number": 1, "duplicate_in_file": 1}
    assert await count_contacts(sessions) == 0


async def test_dry_run_reports_suppressed_numbers_with_their_entry(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    async with sessions() as session, session.begin():
        await add_entries(session, [(NUMBER, number_pattern("+919876543211", "IN"))], reason="DNC")
    rejects = tmp_path / "rejects.csv"

    summary = await run_import(
        sessions,
        campaign_id,
        write_csv(tmp_path / "a.csv", FIRST),
        dry_run=True,
        rejects_path=rejects,
    )

    assert (summary.imported, dict(summary.rejected)) == (2, {"suppressed": 1})
    assert "on the do-not-call list: number +919876543211 (global): DNC" in rejects.read_text()
    assert await count_contacts(sessions) == 0


async def test_a_reject_report_that_would_overwrite_the_file_being_imported_is_refused(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    path = write_csv(tmp_path / "a.csv", FIRST)
    before = path.read_bytes()
    (tmp_path / "sub").mkdir()

    with pytest.raises(ValueError, match="is the file being imported"):
        await run_import(
            sessions, campaign_id, path, rejects_path=tmp_path / "sub" / ".." / "a.csv"
        )

    assert path.read_bytes() == before
    assert await count_contacts(sessions) == 0


async def test_dry_run_after_an_import_reports_the_numbers_already_in_the_campaign(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    path = write_csv(tmp_path / "a.csv", FIRST)
    await run_import(sessions, campaign_id, path)
    summary = await run_import(sessions, campaign_id, path, dry_run=True)

    assert (summary.imported, dict(summary.rejected)) == (0, {"duplicate_in_campaign": 3})
    assert await count_contacts(sessions) == 3


async def test_fixed_reject_report_imports_the_rows_it_holds(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    rows = [
        HEADER,
        ["9876543210", "Asha", "Pune"],
        ["98765", "Ravi", "Delhi"],
        ["call me", "Meera", "Goa"],
        ["9876543213", "Kiran", "Chennai"],
    ]
    rejects = tmp_path / "rejects.csv"
    summary = await run_import(
        sessions, campaign_id, write_csv(tmp_path / "a.csv", rows), rejects_path=rejects
    )
    assert (summary.imported, dict(summary.rejected)) == (2, {"invalid_number": 2})

    # The operator corrects the phone cells in a spreadsheet and saves the report as is.
    report = read_csv(rejects)
    assert [row[:3] for row in report[1:]] == [
        ["98765", "Ravi", "Delhi"],
        ["call me", "Meera", "Goa"],
    ]
    report[1][0] = "9876543211"
    report[2][0] = "+91 98765 43212"
    with rejects.open("w", encoding="utf-8-sig", newline="") as handle:
        csv.writer(handle).writerows(report)

    fixed = await run_import(sessions, campaign_id, rejects)

    assert (fixed.rows, fixed.imported, sum(fixed.rejected.values())) == (2, 2, 0)
    assert fixed.variables == ("first_name", "city")  # the _line/_reason/_detail are skipped
    contacts = await contacts_of(sessions, campaign_id)
    assert len(contacts) == 4
    assert contacts["+919876543211"].variables == {"first_name": "Ravi", "city": "Delhi"}
    assert contacts["+919876543212"].variables == {"first_name": "Meera", "city": "Goa"}


async def test_file_with_columns_the_agent_does_not_declare_is_refused_before_any_import(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions, agent_variables=["first_name", "ce_attempt_id"])
    rejects = tmp_path / "rejects.csv"
    path = write_csv(tmp_path / "a.csv", [[*HEADER, "Plan"], ["9876543210", "Asha", "Pune", "A"]])

    with pytest.raises(ImportRefused) as caught:
        await run_import(
            sessions,
            campaign_id,
            path,
            rejects_path=rejects,
            engine_variables=ENGINE_VARIABLES,
        )

    message = str(caught.value)
    assert message.startswith("nothing imported; ")
    assert "columns the agent does not declare: city, plan" in message
    assert "--exclude" in message
    assert await count_contacts(sessions) == 0
    assert not rejects.exists()


async def test_excluding_the_undeclared_columns_lets_the_file_import(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions, agent_variables=["first_name", "ce_attempt_id"])
    path = write_csv(tmp_path / "a.csv", FIRST)

    summary = await run_import(
        sessions, campaign_id, path, exclude=("City",), engine_variables=ENGINE_VARIABLES
    )

    assert summary.imported == 3


async def test_variable_the_engine_fills_in_is_not_required_from_the_file(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(
        sessions, agent_variables=["first_name", "city", "ce_attempt_id"]
    )
    path = write_csv(tmp_path / "a.csv", FIRST)

    with pytest.raises(ImportRefused, match="no column supplies: ce_attempt_id"):
        await run_import(sessions, campaign_id, path)
    summary = await run_import(sessions, campaign_id, path, engine_variables=ENGINE_VARIABLES)

    assert summary.imported == 3


async def test_agent_variable_no_column_supplies_is_refused_naming_it(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(
        sessions, agent_variables=["first_name", "city", "due_date", "ce_attempt_id"]
    )
    path = write_csv(tmp_path / "a.csv", FIRST)

    with pytest.raises(ImportRefused) as caught:
        await run_import(sessions, campaign_id, path, engine_variables=ENGINE_VARIABLES)

    assert "variables the agent declares that no column supplies: due_date" in str(caught.value)
    assert "ce_attempt_id" not in str(caught.value)
    assert await count_contacts(sessions) == 0


async def test_import_into_an_unknown_campaign_is_refused(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    with pytest.raises(ImportRefused, match="campaign nope not found"):
        await run_import(sessions, "nope", write_csv(tmp_path / "a.csv", FIRST))


async def test_interrupted_import_keeps_whole_batches_and_a_rerun_completes_it(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions)
    rows = [HEADER, *([f"98765432{index:02d}", f"P{index}", "X"] for index in range(10))]
    path = write_csv(tmp_path / "a.csv", rows)

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(summary: ImportSummary) -> None:
        raise Interrupted

    with pytest.raises(Interrupted):
        await import_csv(
            sessions,
            campaign_id,
            path,
            ImportOptions(batch_size=4),
            progress=stop_after_first_batch,
        )
    assert await count_contacts(sessions) == 4

    summary = await run_import(sessions, campaign_id, path, batch_size=4)

    assert (summary.imported, dict(summary.rejected)) == (6, {"duplicate_in_campaign": 4})
    assert len(await contacts_of(sessions, campaign_id)) == 10


async def test_campaign_default_region_applies_to_numbers_without_a_country_code(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    async with sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session, name="us", agent_id=AGENT_ID, default_region="US"
        )
    path = write_csv(tmp_path / "a.csv", [["phone"], ["(201) 555-0123"]])

    summary = await run_import(sessions, campaign.id, path)

    assert summary.imported == 1
    assert set(await contacts_of(sessions, campaign.id)) == {"+12015550123"}


@pytest.mark.parametrize("state", ["canceled", "completed"])
async def test_importing_into_a_finished_campaign_is_refused_and_writes_nothing(
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
    new_campaign: NewCampaign,
    state: str,
) -> None:
    campaign_id = await new_campaign(sessions)
    async with sessions() as session, session.begin():
        campaign = await session.get(Campaign, campaign_id)
        assert campaign is not None
        campaign.state = state
    path = write_csv(tmp_path / "a.csv", FIRST)
    rejects = tmp_path / "rejects.csv"

    for dry_run in (False, True):
        with pytest.raises(ImportRefused, match=f"campaign {campaign_id} is {state}"):
            await run_import(sessions, campaign_id, path, rejects_path=rejects, dry_run=dry_run)

    assert await count_contacts(sessions) == 0
    assert not rejects.exists()


async def test_a_kept_column_is_stored_with_the_contact_but_not_checked_as_a_variable(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path, new_campaign: NewCampaign
) -> None:
    campaign_id = await new_campaign(sessions, agent_variables=["first_name", "ce_attempt_id"])
    path = write_csv(tmp_path / "a.csv", FIRST)

    summary = await run_import(
        sessions, campaign_id, path, keep=("City",), engine_variables=ENGINE_VARIABLES
    )

    assert (summary.imported, summary.variables, summary.kept) == (3, ("first_name",), ("City",))
    assert summary.to_dict()["kept_columns"] == ["City"]
    contacts = await contacts_of(sessions, campaign_id)
    assert contacts["+919876543211"].variables == {"first_name": "Ravi", "kept:city": "Delhi"}
