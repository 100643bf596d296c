"""Import a CSV file into a campaign: stream, validate, write in batches, report every row.

Every row ends up either imported or rejected with a reason and its line number; rejects
can be written to a CSV that the operator fixes and imports again as it is. Batches are
committed one by one, so an interrupted import keeps whole batches and a re-run completes
it (numbers already in the campaign are reported, never added twice).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.columns import ColumnMapping, check_against_agent
from campaign_engine.contacts.csv_source import open_csv
from campaign_engine.contacts.reasons import RejectReason
from campaign_engine.contacts.reject_report import RejectReport
from campaign_engine.contacts.rows import Accepted, Rejected, validate_rows
from campaign_engine.contacts.store import insert_batch
from campaign_engine.db.models import Campaign, utcnow


class ImportRefused(ValueError):
    """The file cannot be imported as asked (nothing was written); the message says why."""


@dataclass(frozen=True)
class ImportOptions:
    phone_column: str | None = None
    mapping: dict[str, str] = field(default_factory=dict)
    exclude: tuple[str, ...] = ()
    default_region: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    batch_size: int = 2000
    dry_run: bool = False
    # Variables the engine fills in itself, so the file need not supply them.
    engine_variables: tuple[str, ...] = ()


@dataclass
class ImportSummary:
    file: str
    encoding: str = ""
    delimiter: str = ""
    phone_column: str = ""
    variables: tuple[str, ...] = ()
    rows: int = 0
    imported: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "phone_column": self.phone_column,
            "variables": list(self.variables),
            "rows": self.rows,
            "imported": self.imported,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected),
            "dry_run": self.dry_run,
        }


Progress = Callable[[ImportSummary], None]


def _as_rejected(accepted: Accepted, mapping: ColumnMapping) -> Rejected:
    raw = {mapping.phone_column: accepted.e164}
    raw.update({mapping.headers[i]: accepted.variables.get(n, "") for i, n in mapping.variables})
    return Rejected(
        accepted.line,
        RejectReason.DUPLICATE_IN_CAMPAIGN,
        f"{accepted.e164} is already in this campaign",
        raw,
    )


async def import_csv(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: str,
    path: Path,
    options: ImportOptions,
    *,
    rejects_path: Path | None = None,
    progress: Progress | None = None,
) -> ImportSummary:
    async with sessions() as session:
        campaign = await session.get(Campaign, campaign_id)
        if campaign is None:
            raise ImportRefused(f"campaign {campaign_id} not found")
        region = options.default_region or campaign.default_region
        declared = campaign.agent_variables
    summary = ImportSummary(file=str(path), dry_run=options.dry_run)
    with open_csv(path, encoding=options.encoding, delimiter=options.delimiter) as source:
        mapping = ColumnMapping.build(
            source.header,
            phone_column=options.phone_column,
            mapping=options.mapping,
            exclude=options.exclude,
        )
        _check_agent(mapping, declared, options.engine_variables)
        summary.encoding, summary.delimiter = source.encoding, source.delimiter
        summary.phone_column, summary.variables = mapping.phone_column, mapping.variable_names
        report = RejectReport(rejects_path, source.header) if rejects_path else None
        try:
            batch: list[Accepted] = []
            for row in validate_rows(source, mapping, region):
                summary.rows += 1
                if isinstance(row, Rejected):
                    summary.rejected[row.reason.value] += 1
                    if report:
                        report.write(row)
                    continue
                batch.append(row)
                if len(batch) >= options.batch_size:
                    await _flush(sessions, campaign_id, batch, mapping, summary, report, options)
                    batch = []
                    if progress:
                        progress(summary)
            await _flush(sessions, campaign_id, batch, mapping, summary, report, options)
        finally:
            if report:
                report.close()
    if progress:
        progress(summary)
    return summary


def _check_agent(
    mapping: ColumnMapping, declared: list[str] | None, engine_variables: tuple[str, ...]
) -> None:
    check = check_against_agent(mapping, declared)
    missing = [name for name in check.missing if name not in engine_variables]
    problems = []
    if check.undeclared:
        problems.append(
            "columns the agent does not declare: "
            + ", ".join(check.undeclared)
            + " (drop them with --exclude COLUMN or rename with --map COLUMN=VARIABLE)"
        )
    if missing:
        problems.append(
            "variables the agent declares that no column supplies: "
            + ", ".join(missing)
            + " (rename a column with --map COLUMN=VARIABLE)"
        )
    if problems:
        raise ImportRefused("nothing imported; " + "; ".join(problems))


async def _flush(
    sessions: async_sessionmaker[AsyncSession],
    campaign_id: str,
    batch: list[Accepted],
    mapping: ColumnMapping,
    summary: ImportSummary,
    report: RejectReport | None,
    options: ImportOptions,
) -> None:
    if not batch:
        return
    async with sessions() as session:
        duplicates = await insert_batch(session, campaign_id, batch, due_at=utcnow())
        if options.dry_run:
            await session.rollback()
        else:
            await session.commit()
    summary.imported += len(batch) - len(duplicates)
    for accepted in duplicates:
        summary.rejected[RejectReason.DUPLICATE_IN_CAMPAIGN.value] += 1
        if report:
            report.write(_as_rejected(accepted, mapping))
