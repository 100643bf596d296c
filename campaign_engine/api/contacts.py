"""``/campaigns/{id}/contacts`` and ``/contacts/{id}``: add contacts as a JSON batch (through
the same importer as a file), list and search a campaign's contacts, one contact's history,
and the audited actions: retry now, skip, suppress, edit variables and call again."""

from __future__ import annotations

import csv
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from campaign_engine.api import pages
from campaign_engine.api.problems import ApiProblem
from campaign_engine.api.registry import Call, Operation
from campaign_engine.api.uploads import UploadQuery, agent_lookup, options_of
from campaign_engine.campaigns.service import get_campaign
from campaign_engine.contacts.importer import import_csv
from campaign_engine.db.models import Contact
from campaign_engine.ops import actions
from campaign_engine.ops.call_now import CallNow
from campaign_engine.ops.history import ContactHistory, contact_history
from campaign_engine.ops.queues import _digits
from campaign_engine.ops.tokens import Scope
from campaign_engine.states import ContactState

TAG = "contacts"
PHONE = "phone"


class NewContact(BaseModel):
    model_config = ConfigDict(extra="forbid")
    phone: str = Field(min_length=1, max_length=40)
    variables: dict[str, str] = Field(default_factory=dict)


class ContactBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    contacts: list[NewContact] = Field(min_length=1, max_length=10_000)
    default_region: str | None = Field(None, min_length=2, max_length=2)
    drop_undeclared: bool = False
    keep: list[str] = Field(default_factory=list)


class ContactOut(BaseModel):
    id: int
    campaign_id: str
    phone: str
    state: str
    attempts_count: int
    next_attempt_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    variables: dict[str, Any]

    @classmethod
    def of(cls, row: Contact) -> ContactOut:
        return cls(
            id=row.id,
            campaign_id=row.campaign_id,
            phone=row.phone_e164,
            state=row.state,
            attempts_count=row.attempts_count,
            next_attempt_at=row.next_attempt_at,
            last_outcome=row.last_outcome,
            last_error=row.last_error,
            variables=row.variables,
        )


class ContactQuery(pages.PageQuery):
    state: ContactState | None = None
    phone: str | None = Field(None, max_length=40, description="Digits the number contains.")


class CallNowOut(BaseModel):
    contact_id: int
    from_state: str
    now: bool
    due_at: datetime | None
    held: str | None

    @classmethod
    def of(cls, answer: CallNow) -> CallNowOut:
        return cls.model_validate(answer.to_dict())


class Suppressed(BaseModel):
    contact_id: int
    closed: bool


class SuppressIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, max_length=500)


class VariablesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    set: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


class Edited(BaseModel):
    variables: dict[str, Any]
    call: CallNowOut


class Skipped(BaseModel):
    contact_id: int
    state: str


async def add_contacts(call: Call) -> dict[str, Any]:
    """The batch is written as a CSV and imported exactly like an uploaded file."""
    batch: ContactBatch = call.body
    campaign_id = call.path["campaign_id"]
    names = sorted({name for c in batch.contacts for name in c.variables} - {PHONE})
    query = UploadQuery(
        phone_column=PHONE,
        default_region=batch.default_region,
        drop_undeclared=batch.drop_undeclared,
        keep=batch.keep,
    )
    options = options_of(query, call.runtime)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "batch.csv"
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow([PHONE, *names])
            for contact in batch.contacts:
                writer.writerow([contact.phone, *(contact.variables.get(n, "") for n in names)])
        summary = await import_csv(
            call.runtime.sessions,
            campaign_id,
            path,
            options,
            rejects_path=Path(folder) / "rejects.csv",
            agent_lookup=agent_lookup(call.runtime),  # type: ignore[arg-type]
        )
        rejects = _rejects(Path(folder) / "rejects.csv")
    result = summary.to_dict()
    result["file"] = "json batch"
    result["rejects"] = rejects
    return result


def _rejects(path: Path) -> list[dict[str, str]]:
    """The reject report's rows (the batch is small: at most its own size)."""
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


async def list_contacts(call: Call) -> pages.Page[ContactOut]:
    query: ContactQuery = call.query
    campaign_id = call.path["campaign_id"]
    await get_campaign(call.db, campaign_id)
    where = [Contact.campaign_id == campaign_id]
    if query.state is not None:
        where.append(Contact.state == query.state.value)
    if query.phone:
        where.append(Contact.phone_e164.contains(_digits(query.phone)))
    total = await call.db.scalar(select(func.count()).select_from(Contact).where(*where))
    after = pages.decode(query.cursor, 1)
    if after is not None:
        if not isinstance(after[0], int):
            raise ApiProblem(422, "query.cursor: not a cursor this API gave out")
        where.append(Contact.id > after[0])
    rows = (
        await call.db.scalars(
            select(Contact).where(*where).order_by(Contact.id).limit(query.limit + 1)
        )
    ).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    return pages.Page[ContactOut](
        items=[ContactOut.of(row) for row in rows],
        total=total or 0,
        next_cursor=pages.encode([rows[-1].id]) if more else None,
    )


async def get_contact(call: Call) -> ContactHistory:
    return await contact_history(call.db, call.path["contact_id"])


async def retry_contact(call: Call) -> CallNowOut:
    return CallNowOut.of(
        await actions.retry_now(call.db, call.path["contact_id"], actor=call.actor)
    )


async def skip_contact(call: Call) -> Skipped:
    contact_id = call.path["contact_id"]
    await actions.skip(call.db, contact_id, actor=call.actor)
    return Skipped(contact_id=contact_id, state=ContactState.CANCELED.value)


async def suppress_contact(call: Call) -> Suppressed:
    contact_id = call.path["contact_id"]
    closed = await actions.suppress(call.db, contact_id, actor=call.actor, reason=call.body.reason)
    return Suppressed(contact_id=contact_id, closed=closed)


async def edit_contact_variables(call: Call) -> Edited:
    body: VariablesIn = call.body
    variables, answer = await actions.edit_variables(
        call.db, call.path["contact_id"], actor=call.actor, values=body.set, remove=body.remove
    )
    return Edited(variables=variables, call=CallNowOut.of(answer))


ONE = "/contacts/{contact_id:int}"
OPERATIONS = [
    Operation("POST", "/campaigns/{campaign_id}/contacts", add_contacts, Scope.OPERATE,
              "Add contacts as a JSON batch (imported like a file)", TAG, body=ContactBatch,
              response=dict[str, Any], status=201, creates=True, transactional=False),
    Operation("GET", "/campaigns/{campaign_id}/contacts", list_contacts, Scope.READ,
              "List and search a campaign's contacts", TAG, query=ContactQuery,
              response=pages.Page[ContactOut]),
    Operation("GET", ONE, get_contact, Scope.READ,
              "One contact's history: every attempt and its webhooks", TAG,
              response=ContactHistory),
    Operation("POST", ONE + "/retry-now", retry_contact, Scope.OPERATE,
              "Call again ahead of the backlog, as soon as its window allows", TAG,
              response=CallNowOut),
    Operation("POST", ONE + "/skip", skip_contact, Scope.OPERATE,
              "Never call it in this campaign", TAG, response=Skipped),
    Operation("POST", ONE + "/suppress", suppress_contact, Scope.OPERATE,
              "Put its number on the do-not-call list (and close it if waiting)", TAG,
              body=SuppressIn, response=Suppressed),
    Operation("POST", ONE + "/edit-variables", edit_contact_variables, Scope.OPERATE,
              "Edit its variables (checked against the agent) and call again", TAG,
              body=VariablesIn, response=Edited),
]  # fmt: skip
