"""Each kind of file operators upload, as a small fixture, imported end to end.

The reader's unit tests pin each quirk on bytes; these pin that a whole real-looking export
with that quirk lands in the campaign with the right numbers and variables.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.campaigns import service
from campaign_engine.contacts.importer import ImportOptions, ImportSummary, import_csv
from campaign_engine.db.models import Contact
from tests.harness import AGENT_ID

FIXTURES = Path(__file__).parent / "fixtures"


async def import_fixture(
    sqlite_sessions: async_sessionmaker[AsyncSession], name: str, tmp_path: Path
) -> tuple[ImportSummary, dict[str, dict[str, str]], list[str]]:
    async with sqlite_sessions() as session, session.begin():
        campaign = await service.create_campaign(
            session, name=name, agent_id=AGENT_ID, default_region="IN"
        )
    rejects = tmp_path / "rejects.csv"
    summary = await import_csv(
        sqlite_sessions, campaign.id, FIXTURES / name, ImportOptions(), rejects_path=rejects
    )
    async with sqlite_sessions() as session:
        contacts = await session.scalars(select(Contact).where(Contact.campaign_id == campaign.id))
        stored = {contact.phone_e164: contact.variables for contact in contacts}
    return summary, stored, rejects.read_text(encoding="utf-8-sig").splitlines()[1:]


async def test_google_contacts_export_utf8_with_bom_takes_the_first_of_several_numbers(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    summary, stored, _ = await import_fixture(
        sqlite_sessions, "google_contacts_utf8_bom.csv", tmp_path
    )

    assert (summary.encoding, summary.delimiter) == ("utf-8-sig", ",")
    assert summary.phone_column == "Phone 1 - Value"
    assert stored == {
        "+919876543210": {
            "name": "José Núñez",
            "given_name": "José",
            "family_name": "Núñez",
            "phone_1_type": "Mobile",
        },
        "+919876543211": {
            "name": "Zoë Kraft",
            "given_name": "Zoë",
            "family_name": "Kraft",
            "phone_1_type": "Mobile",
        },
    }


async def test_excel_unicode_text_is_utf16_tab_separated_with_crlf(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    summary, stored, _ = await import_fixture(sqlite_sessions, "excel_unicode_text.txt", tmp_path)

    assert (summary.encoding, summary.delimiter) == ("utf-16", "\t")
    assert stored == {
        "+919876543212": {"first_name": "Meera", "city": "Goa"},
        "+919876543213": {"first_name": "日本", "city": "Tokyo"},
    }


async def test_semicolon_cp1252_export_keeps_a_quoted_note_spanning_lines(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    summary, stored, _ = await import_fixture(sqlite_sessions, "semicolon_cp1252.csv", tmp_path)

    assert (summary.encoding, summary.delimiter) == ("cp1252", ";")
    assert summary.phone_column == "Telefon"
    assert stored == {
        "+919876543214": {"name": "Renée", "note": "Prefers mornings;\r\ncall after 9"},
        "+919876543215": {"name": "Frédéric", "note": "Price € 5"},
    }


async def test_latin1_file_without_bom_is_read_as_its_8_bit_text(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    summary, stored, _ = await import_fixture(sqlite_sessions, "latin1.csv", tmp_path)

    assert summary.encoding == "cp1252"  # Windows-1252 reads every Latin-1 letter the same
    assert stored == {"+919876543216": {"name": "Muñoz"}, "+919876543217": {"name": "Müller"}}


async def test_crm_export_with_odd_headers_blank_lines_and_trailing_empty_columns(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    summary, stored, rejects = await import_fixture(sqlite_sessions, "crm_messy.csv", tmp_path)

    assert summary.phone_column == "PHONE NUMBER"
    assert summary.variables == ("first_name", "plan")
    assert (summary.rows, summary.imported, rejects) == (2, 2, [])
    assert stored == {
        "+919876543218": {"first_name": "Kiran", "plan": "gold"},
        "+919876543219": {"first_name": "Anil", "plan": "silver"},
    }


async def test_tab_separated_file_reports_a_bad_row_with_its_line_number(
    sqlite_sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    summary, stored, rejects = await import_fixture(sqlite_sessions, "tab_separated.tsv", tmp_path)

    assert (summary.encoding, summary.delimiter) == ("utf-8", "\t")
    assert stored == {"+919876543220": {"name": "Priya"}}
    assert [line.split(",")[:4] for line in rejects] == [["12345", "Short", "3", "invalid_number"]]
