"""``/campaigns/{id}/results``: the results export (CSV or JSON Lines, one row per contact or
per attempt), the same rows as ``results export``.

The export is written to a temporary file as the rows are read (memory does not grow with
the campaign) and that file is streamed to the client and deleted once sent.
"""

from __future__ import annotations

import os
import tempfile
from typing import Literal

from pydantic import BaseModel
from starlette.background import BackgroundTask
from starlette.responses import FileResponse

from campaign_engine.api.registry import Call, Operation
from campaign_engine.ops.tokens import Scope
from campaign_engine.results.export import export

MEDIA = {"csv": "text/csv", "jsonl": "application/x-ndjson"}


class ResultsQuery(BaseModel):
    format: Literal["csv", "jsonl"] = "csv"
    per: Literal["contact", "attempt"] = "contact"


async def export_results(call: Call) -> FileResponse:
    query: ResultsQuery = call.query
    campaign_id = call.path["campaign_id"]
    handle, name = tempfile.mkstemp(suffix=f".{query.format}")
    try:
        with os.fdopen(handle, "w", newline="", encoding="utf-8") as out:
            await export(
                call.db, campaign_id, out, fmt=query.format, attempts=query.per == "attempt"
            )
    except BaseException:
        os.unlink(name)
        raise
    return FileResponse(
        name,
        media_type=MEDIA[query.format],
        filename=f"results-{campaign_id}-{query.per}.{query.format}",
        background=BackgroundTask(os.unlink, name),
    )


OPERATIONS = [
    Operation("GET", "/campaigns/{campaign_id}/results", export_results, Scope.READ,
              "Export results: CSV or JSON Lines, per contact or per attempt", "results",
              query=ResultsQuery, produces=tuple(MEDIA.values())),
]  # fmt: skip
