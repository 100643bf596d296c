"""``results export``: a campaign's results as CSV or JSON Lines, streamed to a text file.

One row per contact (its final state and last finished attempt) or, with ``attempts``, one
row per attempt. Rows are written as they are read, so memory does not grow with the
campaign; CSV cells go through :func:`campaign_engine.results.cells.cell` so the file is
safe to open in a spreadsheet.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TextIO

from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.results import export_rows, query
from campaign_engine.results.cells import cell

Format = Literal["csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl")


@dataclass(frozen=True)
class Exported:
    rows: int


async def export(
    session: AsyncSession,
    campaign_id: str,
    out: TextIO,
    *,
    fmt: Format,
    attempts: bool = False,
) -> Exported:
    """Write the campaign's results to ``out``; how many rows."""
    await query.require_campaign(session, campaign_id)
    if attempts:
        select_rows = query.attempts_query(campaign_id)
        to_record: Callable[[dict[str, Any]], dict[str, Any]] = export_rows.attempt_record
        fields: Sequence[str] = export_rows.ATTEMPT_FIELDS
    else:
        select_rows = query.contacts_query(campaign_id)
        to_record = export_rows.contact_record
        fields = export_rows.CONTACT_FIELDS
    count = 0
    if fmt == "jsonl":
        async for row in query.stream_rows(session, select_rows):
            out.write(json.dumps(to_record(row), ensure_ascii=False, default=str) + "\n")
            count += 1
        return Exported(count)
    variables, extraction = await query.names_in_use(session, campaign_id)
    writer = csv.writer(out)
    header = export_rows.csv_header(fields, variables, extraction, transcript=attempts)
    writer.writerow([cell(name) for name in header])
    async for row in query.stream_rows(session, select_rows):
        values = export_rows.flatten(
            to_record(row), fields, variables, extraction, transcript=attempts
        )
        writer.writerow([cell(value) for value in values])
        count += 1
    return Exported(count)
