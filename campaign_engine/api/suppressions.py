"""``/suppressions``: the do-not-call list — add numbers and prefixes, import a CSV, remove,
list; every change audited under the token's name (``ops.suppression_actions``)."""

from __future__ import annotations

import tempfile
from datetime import datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from campaign_engine.api import pages
from campaign_engine.api.body import declared_length, too_large
from campaign_engine.api.problems import ApiProblem, FieldError
from campaign_engine.api.registry import Call, Operation, RowId
from campaign_engine.api.upload_files import receive
from campaign_engine.campaigns.service import get_campaign
from campaign_engine.contacts.suppression import NUMBER, PREFIX
from campaign_engine.contacts.suppression_list import (
    import_entries,
    number_pattern,
    prefix_pattern,
)
from campaign_engine.db.models import Suppression
from campaign_engine.ops import suppression_actions
from campaign_engine.ops.tokens import Scope

TAG = "do-not-call"


class SuppressionsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    numbers: list[str] = Field(default_factory=list, max_length=10_000)
    prefixes: list[str] = Field(default_factory=list, max_length=1_000)
    campaign_id: str | None = Field(None, description="For this campaign only (default: global).")
    reason: str | None = Field(None, max_length=500)
    default_region: str | None = Field(None, min_length=2, max_length=2)


class RemoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    numbers: list[str] = Field(default_factory=list, max_length=10_000)
    prefixes: list[str] = Field(default_factory=list, max_length=1_000)
    ids: list[RowId] = Field(default_factory=list, max_length=10_000)
    campaign_id: str | None = None
    reason: str | None = Field(None, max_length=500)
    default_region: str | None = Field(None, min_length=2, max_length=2)


class Added(BaseModel):
    added: int
    already: int


class Removed(BaseModel):
    removed: int


class SuppressionOut(BaseModel):
    id: int
    kind: str
    pattern: str
    campaign_id: str | None
    reason: str | None
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: Suppression) -> SuppressionOut:
        return cls.model_validate(row, from_attributes=True)


class ListQuery(pages.PageQuery):
    campaign_id: str | None = Field(None, max_length=64)
    limit: int = Field(500, ge=1, le=10_000, description="Rows per page.")


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign_id: str | None = Field(None, max_length=64)
    reason: str | None = Field(None, max_length=500)
    default_region: str | None = Field(None, min_length=2, max_length=2)
    phone_column: str | None = Field(None, max_length=200)


async def _region(call: Call, campaign_id: str | None, region: str | None) -> str | None:
    if region or campaign_id is None:
        return region
    return (await get_campaign(call.db, campaign_id)).default_region


def _entries(numbers: list[str], prefixes: list[str], region: str | None) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    for where, values, kind, parse in (
        ("numbers", numbers, NUMBER, lambda raw: number_pattern(raw, region)),
        ("prefixes", prefixes, PREFIX, prefix_pattern),
    ):
        for index, raw in enumerate(values):
            try:
                found.append((kind, parse(raw)))
            except ValueError as exc:
                field = f"body.{where}.{index}"
                raise ApiProblem(
                    422, f"{field}: {exc}", [FieldError(field=field, problem=str(exc))]
                ) from None
    return found


async def add_suppressions(call: Call) -> Added:
    body: SuppressionsIn = call.body
    if not body.numbers and not body.prefixes:
        raise ApiProblem(
            422,
            "give at least one number or prefix",
            [FieldError(field="body.numbers", problem="empty, and no prefixes")],
        )
    region = await _region(call, body.campaign_id, body.default_region)
    result = await suppression_actions.add(
        call.db,
        _entries(body.numbers, body.prefixes, region),
        actor=call.actor,
        campaign_id=body.campaign_id,
        reason=body.reason,
    )
    return Added(added=result.added, already=result.already)


async def remove_suppressions(call: Call) -> Removed:
    body: RemoveIn = call.body
    region = await _region(call, body.campaign_id, body.default_region)
    removed = await suppression_actions.remove(
        call.db,
        _entries(body.numbers, body.prefixes, region),
        actor=call.actor,
        entry_ids=body.ids,
        campaign_id=body.campaign_id,
        reason=body.reason,
    )
    return Removed(removed=removed)


async def list_suppressions(call: Call) -> pages.Page[SuppressionOut]:
    """Oldest first, a page at a time."""
    query = select(Suppression)
    if call.query.campaign_id is not None:
        query = query.where(
            Suppression.campaign_id.is_(None) | (Suppression.campaign_id == call.query.campaign_id)
        )
    rows, total, cursor = await pages.by_id(
        call.db, query, Suppression.id, call.query, newest_first=False
    )
    return pages.Page[SuppressionOut](
        items=[SuppressionOut.of(row) for row in rows], total=total, next_cursor=cursor
    )


async def import_suppressions(call: Call) -> dict[str, object]:
    """A CSV body (or multipart part ``file``), streamed to disk, imported like
    ``suppress import``."""
    query: ImportQuery = call.query
    limit = call.runtime.settings.api.upload_max_bytes
    length = declared_length(call.request)
    if length is not None and length > limit:
        raise too_large(limit, "upload")
    async with call.runtime.sessions() as session:
        region = query.default_region
        if region is None and query.campaign_id is not None:
            region = (await get_campaign(session, query.campaign_id)).default_region
    content_type = call.request.headers.get("content-type", "text/csv")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "do-not-call.csv"
        with path.open("wb") as out:
            await receive(call.request.stream(), content_type, out, limit)
        summary = await import_entries(
            call.runtime.sessions,
            path,
            campaign_id=query.campaign_id,
            reason=query.reason,
            created_by=call.actor,
            default_region=region,
            phone_column=query.phone_column,
            after_batch=suppression_actions.import_audit(
                path, actor=call.actor, campaign_id=query.campaign_id, reason=query.reason
            ),
        )
    return summary.to_dict()


OPERATIONS = [
    Operation("POST", "/suppressions", add_suppressions, Scope.OPERATE,
              "Add numbers and prefixes to the do-not-call list", TAG, body=SuppressionsIn,
              response=Added, status=201, creates=True),
    Operation("POST", "/suppressions/import", import_suppressions, Scope.OPERATE,
              "Import a CSV of numbers (streamed)", TAG, query=ImportQuery,
              response=dict[str, object], status=201, creates=True, transactional=False,
              raw_body=("text/csv", "multipart/form-data")),
    Operation("POST", "/suppressions/remove", remove_suppressions, Scope.OPERATE,
              "Take numbers, prefixes or entries (by id) off the list", TAG, body=RemoveIn,
              response=Removed),
    Operation("GET", "/suppressions", list_suppressions, Scope.READ,
              "The list (with a campaign: the entries that apply to it)", TAG,
              query=ListQuery, response=pages.Page[SuppressionOut]),
]  # fmt: skip
