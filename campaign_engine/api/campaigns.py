"""``/campaigns``: create (the same rules and errors as the TOML files), list, get, change
schedule and retry policy, start, pause, resume, cancel, preflight."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import and_, func, or_, select

from campaign_engine.api import pages
from campaign_engine.api.problems import ApiProblem, FieldError, invalid
from campaign_engine.api.registry import Call, Operation
from campaign_engine.campaigns import service
from campaign_engine.campaigns.files import parse_retry_policy
from campaign_engine.campaigns.preflight import preflight as preflight_of
from campaign_engine.campaigns.retry_policy import RetryPolicy
from campaign_engine.campaigns.schedule import Schedule, parse_schedule
from campaign_engine.campaigns.service import CampaignError
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import Campaign, utcnow
from campaign_engine.journal.audit import record
from campaign_engine.ops.priority import checked_priority
from campaign_engine.ops.tokens import Scope
from campaign_engine.runtime import partner_concurrency
from campaign_engine.states import CampaignState

TAG = "campaigns"


class CampaignIn(BaseModel):
    """A new campaign: ``schedule`` and ``retry_policy`` take exactly the keys of the
    schedule and retry TOML files (``campaign create --schedule/--retry``)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    agent_id: str = Field(description="The Vocobase agent (UUID).")
    provider: str = "mcube"
    connection_id: str | None = None
    max_concurrent: int | None = Field(None, gt=0)
    calls_per_minute: int | None = Field(None, gt=0)
    default_region: str | None = Field(None, description="e.g. IN")
    priority: int | None = Field(None, ge=1)
    schedule: dict[str, Any] | None = None
    retry_policy: dict[str, Any] | None = None


class CampaignOut(BaseModel):
    id: str
    name: str
    state: str
    state_reason: str | None
    agent_id: str
    provider: str
    connection_id: str | None
    max_concurrent: int | None
    calls_per_minute: int | None
    default_region: str | None
    priority: int
    schedule: dict[str, Any] | None
    retry_policy: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, row: Campaign) -> CampaignOut:
        return cls.model_validate(row, from_attributes=True)


class CampaignQuery(pages.PageQuery):
    state: CampaignState | None = Field(None, description="Only campaigns in this state.")


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    schedule: dict[str, Any] | None = Field(description="The schedule file's keys; null: any time.")


class RetryPolicyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    retry_policy: dict[str, Any] = Field(description="The retry file's keys.")


class MoveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=500)


class Moved(BaseModel):
    id: str
    state: str
    contacts_closed: int = 0
    contacts_withdrawn: int = 0


class Rescheduled(BaseModel):
    campaign: CampaignOut
    contacts_moved: int


def _schedule(data: dict[str, Any] | None) -> Schedule | None:
    if data is None:
        return None
    try:
        return parse_schedule(data)
    except ValueError as exc:
        raise invalid("body.schedule", str(exc)) from None


def _policy(data: dict[str, Any]) -> RetryPolicy:
    try:
        return parse_retry_policy(data)
    except ValueError as exc:
        raise invalid("body.retry_policy", str(exc)) from None


# What create_campaign's refusals are about, so the 422 names the field.
_FIELD_OF = (
    ("campaign name", "name"),
    ("provider", "provider"),
    ("agent id", "agent_id"),
    ("connection id", "connection_id"),
    ("max concurrent", "max_concurrent"),
    ("calls per minute", "calls_per_minute"),
    ("default region", "default_region"),
)


async def create_campaign(call: Call) -> CampaignOut:
    body: CampaignIn = call.body
    schedule, policy = _schedule(body.schedule), None
    if body.retry_policy is not None:
        policy = _policy(body.retry_policy)
    try:
        campaign = await service.create_campaign(
            call.db,
            name=body.name,
            agent_id=body.agent_id,
            provider=body.provider,
            connection_id=body.connection_id,
            max_concurrent=body.max_concurrent,
            calls_per_minute=body.calls_per_minute,
            default_region=body.default_region,
            retry_policy=policy,
            schedule=schedule,
        )
    except CampaignError as exc:
        message = str(exc)
        where = next((f for text, f in _FIELD_OF if text in message), "body")
        raise ApiProblem(
            422, message, [FieldError(field=f"body.{where}", problem=message)]
        ) from None
    if body.priority is not None:
        campaign.priority = checked_priority(body.priority)
    await record(
        call.db,
        actor=call.actor,
        action="campaign-create",
        target_type="campaign",
        target_id=campaign.id,
        details={"name": campaign.name},
    )
    await call.db.flush()
    return CampaignOut.of(campaign)


async def list_campaigns(call: Call) -> pages.Page[CampaignOut]:
    query: CampaignQuery = call.query
    after = pages.decode(query.cursor, 2)
    where = [Campaign.state == query.state.value] if query.state else []
    total = await call.db.scalar(select(func.count()).select_from(Campaign).where(*where))
    select_rows = select(Campaign).where(*where)
    if after is not None:
        at = datetime.fromisoformat(str(after[0]))
        select_rows = select_rows.where(
            or_(Campaign.created_at > at, and_(Campaign.created_at == at, Campaign.id > after[1]))
        )
    rows = (
        await call.db.scalars(
            select_rows.order_by(Campaign.created_at, Campaign.id).limit(query.limit + 1)
        )
    ).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = pages.encode([rows[-1].created_at.isoformat(), rows[-1].id]) if more else None
    return pages.Page[CampaignOut](
        items=[CampaignOut.of(r) for r in rows], total=total or 0, next_cursor=cursor
    )


async def get_campaign(call: Call) -> CampaignOut:
    return CampaignOut.of(await service.get_campaign(call.db, call.path["campaign_id"]))


async def set_schedule(call: Call) -> Rescheduled:
    campaign_id = call.path["campaign_id"]
    schedule = _schedule(call.body.schedule)
    moved = await service.set_schedule(call.db, campaign_id, schedule)
    await record(
        call.db,
        actor=call.actor,
        action="schedule",
        target_type="campaign",
        target_id=campaign_id,
        details={"schedule": call.body.schedule, "contacts_moved": moved},
    )
    campaign = await service.get_campaign(call.db, campaign_id)
    return Rescheduled(campaign=CampaignOut.of(campaign), contacts_moved=moved)


async def set_retry_policy(call: Call) -> CampaignOut:
    campaign = await service.get_campaign(call.db, call.path["campaign_id"])
    policy = _policy(call.body.retry_policy)
    campaign.retry_policy = policy.model_dump(mode="json")
    await record(
        call.db,
        actor=call.actor,
        action="retry-policy",
        target_type="campaign",
        target_id=campaign.id,
        details={"retry_policy": call.body.retry_policy},
    )
    await call.db.flush()
    return CampaignOut.of(campaign)


async def start_campaign(call: Call) -> Moved:
    runtime = call.runtime
    campaign = await service.start_campaign(
        call.db,
        call.path["campaign_id"],
        runtime.vocobase,
        actor=call.actor,
        uncapped_call_seconds=runtime.settings.limits.uncapped_call_seconds,
    )
    return Moved(id=campaign.id, state=campaign.state)


def _mover(action: str) -> Any:
    async def move(call: Call) -> Moved:
        campaign_id = call.path["campaign_id"]
        moved = await campaign_moves.control(
            call.db,
            call.runtime.keys,
            campaign_id,
            action,
            actor=call.actor,
            reason=call.body.reason if call.body else None,
        )
        if moved.jobs:
            jobs = moved.jobs

            async def withdraw() -> None:
                await campaign_moves.withdraw(call.runtime.redis, call.runtime.keys, jobs)

            call.after_commit.append(withdraw)
        return Moved(
            id=campaign_id,
            state=moved.state.value,
            contacts_closed=moved.contacts_closed,
            contacts_withdrawn=len(moved.jobs),
        )

    move.__name__ = f"{action}_campaign"
    return move


class PreflightOut(BaseModel):
    campaign_id: str
    contacts: int
    final: int
    callable: int
    blocked: dict[str, int]
    first_call_at: datetime | None
    calls_per_hour: float
    average_call_seconds: float
    average_call_from: str
    estimated_finish: datetime | None
    warnings: list[str]
    binding: str
    binding_description: str
    expected_calls: float
    attempts_per_contact: float


async def preflight(call: Call) -> PreflightOut:
    """As ``campaign preflight`` reports it: with the partner concurrency in force now."""
    settings = call.runtime.settings
    report = await preflight_of(
        call.db,
        call.path["campaign_id"],
        settings.limits,
        utcnow(),
        partner_concurrency=await partner_concurrency(settings, call.runtime.redis),
        polling_share=settings.scheduler.reconcile_budget_share,
    )
    return PreflightOut.model_validate(report.to_dict())


ONE = "/campaigns/{campaign_id}"
OPERATIONS = [
    Operation("POST", "/campaigns", create_campaign, Scope.OPERATE, "Create a draft campaign",
              TAG, body=CampaignIn, response=CampaignOut, status=201, creates=True),
    Operation("GET", "/campaigns", list_campaigns, Scope.READ, "List campaigns", TAG,
              query=CampaignQuery, response=pages.Page[CampaignOut]),
    Operation("GET", ONE, get_campaign, Scope.READ, "One campaign", TAG, response=CampaignOut),
    Operation("PUT", ONE + "/schedule", set_schedule, Scope.OPERATE,
              "Change (or clear) the schedule; waiting contacts move to their new times", TAG,
              body=ScheduleIn, response=Rescheduled),
    Operation("PUT", ONE + "/retry-policy", set_retry_policy, Scope.OPERATE,
              "Change the retry policy", TAG, body=RetryPolicyIn, response=CampaignOut),
    Operation("POST", ONE + "/start", start_campaign, Scope.OPERATE,
              "Start (checks provider and agent with Vocobase first)", TAG, response=Moved),
    *(
        Operation("POST", f"{ONE}/{action}", _mover(action), Scope.OPERATE,
                  f"{action.capitalize()} the campaign (audited under the token's name)", TAG,
                  body=MoveIn, response=Moved)
        for action in campaign_moves.ACTIONS
    ),
    Operation("GET", ONE + "/preflight", preflight, Scope.READ,
              "Callable and blocked contacts, and the estimated finish", TAG,
              response=PreflightOut),
]  # fmt: skip
