"""Import contacts into a campaign from a CSV file or the operator's database.

Every row ends up either imported or rejected with a reason and its line number; rejects can
be written to a CSV that the operator fixes and imports again as it is. Before any row is
read, the columns are mapped and checked against the agent's declared variables, so a file
that cannot work is refused whole, with the fix. Then the rows stream through
``ImportPipeline`` (checked on every core, written in committed batches), so an interrupted
import keeps whole batches and a re-run completes it: numbers already in the campaign are
reported, never added twice. A CSV file and a database query take the same path.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.agent_contract import AgentLookup, declared_variables, fit_to_agent
from campaign_engine.contacts.bulk_insert import preferred_batch_size
from campaign_engine.contacts.columns import ColumnMapping
from campaign_engine.contacts.csv_chunks import CsvChunk, byte_chunks_possible, cut_chunks
from campaign_engine.contacts.csv_source import CsvLayout, CsvSource, Record, open_csv
from campaign_engine.contacts.pipeline import ImportPipeline
from campaign_engine.contacts.reject_report import RejectReport, refuse_overwriting_source
from campaign_engine.contacts.row_checks import RowPlan, Setup, Work
from campaign_engine.contacts.sql_source import open_sql_source
from campaign_engine.contacts.summary import ImportOptions, ImportRefused, ImportSummary, Progress
from campaign_engine.db.models import Campaign
from campaign_engine.states import CAMPAIGN_TERMINAL

__all__ = [
    "ImportOptions",
    "ImportRefused",
    "ImportSummary",
    "Progress",
    "import_csv",
    "import_sql",
]


async def import_csv(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: str,
    path: Path,
    options: ImportOptions,
    *,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    agent_lookup: AgentLookup | None = None,
) -> ImportSummary:
    """Import a CSV file; ``agent_lookup`` asks Vocobase for the agent's variables when the
    campaign does not know them yet."""
    refuse_overwriting_source(rejects_path, path)
    campaign = await _campaign(sessions, campaign_id)
    with open_csv(path, encoding=options.encoding, delimiter=options.delimiter) as source:
        summary = ImportSummary(
            file=str(path),
            encoding=source.encoding,
            delimiter=source.delimiter,
            dry_run=options.dry_run,
        )
        layout = source.layout
        chunks = (
            _byte_chunks(source, options.chunk_size)
            if byte_chunks_possible(layout)
            else _record_chunks(source, options.chunk_size)
        )
        await _import(
            sessions,
            campaign,
            source.header,
            layout,
            chunks,
            summary,
            options,
            rejects_path=rejects_path,
            progress=progress,
            agent_lookup=agent_lookup,
        )
    return summary


async def import_sql(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: str,
    url: str,
    query: str,
    options: ImportOptions,
    *,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
    agent_lookup: AgentLookup | None = None,
) -> ImportSummary:
    """Import the rows of ``query`` on the database at ``url`` (see ``sql_source``)."""
    campaign = await _campaign(sessions, campaign_id)
    async with open_sql_source(url, query, chunk_size=options.chunk_size) as source:
        summary = ImportSummary(file=source.display_url, query=query, dry_run=options.dry_run)
        await _import(
            sessions,
            campaign,
            source.header,
            None,
            source.chunks(options.chunk_size),
            summary,
            options,
            rejects_path=rejects_path,
            progress=progress,
            agent_lookup=agent_lookup,
        )
    return summary


async def _campaign(sessions: async_sessionmaker[AsyncSession], campaign_id: str) -> Campaign:
    """The campaign to import into; refused if it is missing or finished (its contacts
    would stay pending forever: a completed or canceled campaign never dials again)."""
    async with sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise ImportRefused(f"campaign {campaign_id} not found")
    if campaign.state in CAMPAIGN_TERMINAL:
        raise ImportRefused(
            f"campaign {campaign_id} is {campaign.state}: nothing imported, since a "
            f"{campaign.state} campaign never calls again; import into a new campaign"
        )
    return campaign


async def _byte_chunks(source: CsvSource, size: int) -> AsyncIterator[CsvChunk]:
    """``size`` records' worth of the file at a time (judged by its first lines)."""
    chunks = cut_chunks(
        source.bytes_after_header(),
        source.header_line + 1,
        size * source.bytes_per_line,
        source.layout,
    )
    for chunk in chunks:
        yield chunk
        await asyncio.sleep(0)  # let a batch being written make progress


async def _record_chunks(source: CsvSource, size: int) -> AsyncIterator[list[Record]]:
    """For files that cannot be cut as bytes (UTF-16 and the like): records read here."""
    chunk: list[Record] = []
    for record in source:
        chunk.append(record)
        if len(chunk) >= size:
            yield chunk
            chunk = []
            await asyncio.sleep(0)  # let a batch being written make progress
    if chunk:
        yield chunk


async def _import(
    sessions: async_sessionmaker[AsyncSession],
    campaign: Campaign,
    header: list[str],
    layout: CsvLayout | None,
    chunks: AsyncIterator[Work],
    summary: ImportSummary,
    options: ImportOptions,
    *,
    rejects_path: Path | None,
    progress: Progress | None,
    agent_lookup: AgentLookup | None,
) -> None:
    mapping = ColumnMapping.build(
        header,
        phone_column=options.phone_column,
        mapping=options.mapping,
        exclude=options.exclude,
    ).keeping(options.keep)
    declared = await declared_variables(
        sessions, campaign, agent_lookup, remember=not options.dry_run
    )
    summary.variables_checked = declared is not None
    mapping, summary.dropped = fit_to_agent(
        mapping,
        declared,
        engine_variables=options.engine_variables,
        drop_undeclared=options.drop_undeclared,
    )
    plan = RowPlan.build(
        mapping,
        options.default_region or campaign.default_region,
        vanity_numbers=options.vanity_numbers,
    )
    summary.phone_column, summary.variables = mapping.phone_column, mapping.call_variables
    summary.kept = mapping.kept_columns

    report = RejectReport(rejects_path, header) if rejects_path else None
    try:
        async with sessions() as session:
            dialect = session.get_bind().dialect.name
        pipeline = ImportPipeline(
            sessions,
            campaign.id,
            Setup(plan, layout, dialect),
            summary,
            report=report,
            batch_size=options.batch_size or preferred_batch_size(dialect),
            workers=options.workers,
            dry_run=options.dry_run,
            progress=progress,
            chunk_rows=options.chunk_size,
        )
        await pipeline.run(chunks)
    finally:
        if report:
            report.close()
    if progress:
        progress(summary)
