"""``/blackouts``: days nobody is called, for every campaign or for one."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from campaign_engine.api.registry import Call, Operation
from campaign_engine.campaigns.blackouts import add_blackout, list_blackouts, remove_blackout
from campaign_engine.db.models import BlackoutDate
from campaign_engine.journal.audit import record
from campaign_engine.ops.tokens import Scope

TAG = "blackouts"


class BlackoutIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    campaign_id: str | None = Field(None, description="Only this campaign (default: all).")
    reason: str | None = Field(None, max_length=500)


class BlackoutOut(BaseModel):
    id: int
    day: date
    campaign_id: str | None
    reason: str | None

    @classmethod
    def of(cls, row: BlackoutDate) -> BlackoutOut:
        return cls.model_validate(row, from_attributes=True)


class BlackoutQuery(BaseModel):
    campaign_id: str | None = Field(None, max_length=64)


class RemoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    day: date
    campaign_id: str | None = None


async def add_blackout_day(call: Call) -> BlackoutOut:
    body: BlackoutIn = call.body
    row = await add_blackout(call.db, body.day, campaign_id=body.campaign_id, reason=body.reason)
    await record(
        call.db,
        actor=call.actor,
        action="blackout-add",
        target_type="date",
        target_id=body.day.isoformat(),
        details={"campaign_id": body.campaign_id, "reason": body.reason},
    )
    return BlackoutOut.of(row)


async def list_blackout_days(call: Call) -> list[BlackoutOut]:
    return [
        BlackoutOut.of(r) for r in await list_blackouts(call.db, campaign_id=call.query.campaign_id)
    ]


async def remove_blackout_day(call: Call) -> None:
    body: RemoveIn = call.body
    await remove_blackout(call.db, body.day, campaign_id=body.campaign_id)
    await record(
        call.db,
        actor=call.actor,
        action="blackout-remove",
        target_type="date",
        target_id=body.day.isoformat(),
        details={"campaign_id": body.campaign_id},
    )


OPERATIONS = [
    Operation("POST", "/blackouts", add_blackout_day, Scope.OPERATE, "Add a blackout date",
              TAG, body=BlackoutIn, response=BlackoutOut, status=201, creates=True),
    Operation("GET", "/blackouts", list_blackout_days, Scope.READ,
              "Blackout dates (with a campaign: the global ones and its own)", TAG,
              query=BlackoutQuery, response=list[BlackoutOut]),
    Operation("POST", "/blackouts/remove", remove_blackout_day, Scope.OPERATE,
              "Remove a blackout date", TAG, body=RemoveIn),
]  # fmt: skip
