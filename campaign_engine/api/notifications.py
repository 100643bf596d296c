"""``/notifications``: the outbox of result notifications (newest first, counts by status),
and re-driving dead ones."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from campaign_engine.api import pages
from campaign_engine.api.registry import Call, Operation, RowId
from campaign_engine.db.models import Notification, utcnow
from campaign_engine.journal.audit import record
from campaign_engine.notifications.outbox import count_by_status, redrive
from campaign_engine.ops.tokens import Scope
from campaign_engine.states import OutboxStatus

TAG = "notifications"


class OutboxQuery(pages.PageQuery):
    status: OutboxStatus | None = None
    campaign_id: str | None = Field(None, max_length=64)
    limit: int = Field(100, ge=1, le=1000, description="Rows per page.")


class NotificationOut(BaseModel):
    id: int
    kind: str
    campaign_id: str
    contact_id: int
    attempt_id: int | None
    status: str
    tries: int
    next_try_at: datetime
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class Outbox(BaseModel):
    """A page of the outbox (newest first) and the counts by status."""

    counts: dict[str, int]
    notifications: list[NotificationOut]
    total: int = Field(description="Rows matching the filters, all pages together.")
    next_cursor: str | None = Field(description="Give as cursor for the next page; null: last.")


class RedriveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[RowId] | None = Field(None, description="These dead rows (default: every dead one).")
    campaign_id: str | None = None


class Redriven(BaseModel):
    redriven: int


def _out(row: Notification) -> NotificationOut:
    return NotificationOut.model_validate(row, from_attributes=True)


async def get_outbox(call: Call) -> Outbox:
    q: OutboxQuery = call.query
    query = select(Notification)
    if q.status is not None:
        query = query.where(Notification.status == q.status.value)
    if q.campaign_id is not None:
        query = query.where(Notification.campaign_id == q.campaign_id)
    rows, total, cursor = await pages.by_id(call.db, query, Notification.id, q, newest_first=True)
    counts = await count_by_status(call.db, q.campaign_id)
    return Outbox(
        counts=counts, notifications=[_out(row) for row in rows], total=total, next_cursor=cursor
    )


async def redrive_notifications(call: Call) -> Redriven:
    body: RedriveIn = call.body
    count = await redrive(call.db, ids=body.ids, campaign_id=body.campaign_id, now=utcnow())
    await record(
        call.db,
        actor=call.actor,
        action="notifications-redrive",
        target_type="notifications",
        target_id=body.campaign_id or "all",
        details={"ids": body.ids, "redriven": count},
    )
    return Redriven(redriven=count)


OPERATIONS = [
    Operation("GET", "/notifications", get_outbox, Scope.READ,
              "The outbox of result notifications", TAG, query=OutboxQuery, response=Outbox),
    Operation("POST", "/notifications/redrive", redrive_notifications, Scope.OPERATE,
              "Send dead notifications again", TAG, body=RedriveIn, response=Redriven),
]  # fmt: skip
