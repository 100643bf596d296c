"""``/retry-queue`` and ``/dead-letters``: who waits for a retry and why, who was given up
on, and the bulk requeue by reason (audited, like ``ops requeue``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from campaign_engine.api.contacts import CallNowOut
from campaign_engine.api.registry import Call, Operation
from campaign_engine.ops import actions
from campaign_engine.ops.queues import DeadLetters, RetryQueue, dead_letters, retry_queue
from campaign_engine.ops.tokens import Scope

TAG = "queues"


class QueueQuery(BaseModel):
    campaign_id: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=40)
    reason: str | None = Field(None, max_length=40)
    limit: int = Field(100, ge=1, le=1000)


class DeadQuery(BaseModel):
    campaign_id: str | None = Field(None, max_length=64)
    phone: str | None = Field(None, max_length=40)
    limit: int = Field(100, ge=1, le=1000)


class RequeueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    campaign_id: str
    reason: str = Field(description="One of the retry queue's reasons, or failed / exhausted.")


class Requeued(BaseModel):
    requeued: int
    contacts: list[CallNowOut]


async def get_retry_queue(call: Call) -> RetryQueue:
    q: QueueQuery = call.query
    return await retry_queue(
        call.db, campaign_id=q.campaign_id, phone=q.phone, reason=q.reason, limit=q.limit
    )


async def get_dead_letters(call: Call) -> DeadLetters:
    q: DeadQuery = call.query
    return await dead_letters(call.db, campaign_id=q.campaign_id, phone=q.phone, limit=q.limit)


async def requeue_by_reason(call: Call) -> Requeued:
    body: RequeueIn = call.body
    answers = await actions.requeue_reason(call.db, body.campaign_id, body.reason, actor=call.actor)
    return Requeued(requeued=len(answers), contacts=[CallNowOut.of(a) for a in answers])


OPERATIONS = [
    Operation("GET", "/retry-queue", get_retry_queue, Scope.READ,
              "Contacts waiting for a retry, soonest first, and counts by reason", TAG,
              query=QueueQuery, response=RetryQueue),
    Operation("GET", "/dead-letters", get_dead_letters, Scope.READ,
              "Contacts given up on, and attempts stuck or expired", TAG, query=DeadQuery,
              response=DeadLetters),
    Operation("POST", "/retry-queue/requeue", requeue_by_reason, Scope.OPERATE,
              "Call again every contact waiting (or given up) for one reason", TAG,
              body=RequeueIn, response=Requeued),
]  # fmt: skip
