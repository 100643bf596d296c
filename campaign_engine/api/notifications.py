"""``/notifications``: the outbox of result notifications (newest first, counts by status),
and re-driving dead ones."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from campaign_engine.api.registry import Call, Operation, RowId
from campaign_engine.db.models import Notification, utcnow
from campaign_engine.journal.audit import record
from campaign_engine.notifications.outbox import count_by_status, list_notifications, redrive
from campaign_engine.ops.tokens import Scope
from campaign_engine.states import OutboxStatus

TAG = "notifications"


class OutboxQuery(BaseModel):
    status: OutboxStatus | None = None
    campaign_id: str | None = Field(None, max_length=64)
    limit: int = Field(100, ge=1, le=1000)


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
    counts: dict[str, int]
    notifications: list[NotificationOut]


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
    status = q.status.value if q.status else None
    rows = await list_notifications(
        call.db, status=status, campaign_id=q.campaign_id, limit=q.limit
    )
    counts = await count_by_status(call.db, q.campaign_id)
    return Outbox(counts=counts, notifications=[_out(row) for row in rows])


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
