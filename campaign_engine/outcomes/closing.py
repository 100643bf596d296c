"""Close contacts without a call: the one path for every way a contact ends undialed.

The gate closes a queued contact found on the do-not-call list, a cancel closes a campaign's
waiting contacts, an operator skips or suppresses one. Each is the same change: a guarded
move (only from the states the caller names, so a contact that moved on meanwhile — claimed,
in a call — is left alone), its final notification in the same transaction, and one state
log line per contact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, update
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import Contact
from campaign_engine.journal import state_log
from campaign_engine.journal.state_log import Change
from campaign_engine.notifications.emit import emit_closed
from campaign_engine.states import CONTACT_FINAL, ContactState, contact_guard


@dataclass(frozen=True, slots=True)
class Closed:
    contact_id: int
    campaign_id: str


async def close_without_call(
    session: AsyncSession,
    which: ColumnElement[bool],
    *,
    from_states: Iterable[ContactState],
    state: ContactState,
    reason: str | None,
    detail: str | None = None,
) -> list[Closed]:
    """Close the contacts ``which`` selects that are still in one of ``from_states``.

    ``reason`` becomes their ``last_error`` (``None`` keeps what they had); ``detail`` is
    what the state log says (``reason`` by default). Returns the contacts closed.
    """
    if state not in CONTACT_FINAL:
        raise ValueError(f"{state.value} is not a final contact state")
    values: dict[str, object] = {"state": state.value, "next_attempt_at": None, "queued_at": None}
    if reason is not None:
        values["last_error"] = reason
        values["last_failure_kind"] = None  # closed for this reason, not a failed start
    rows = await session.execute(
        update(Contact)
        .where(which, Contact.state.in_(contact_guard(from_states, state)))
        .values(**values)
        .returning(Contact.id, Contact.campaign_id)
        .execution_options(synchronize_session=False)
    )
    closed = [Closed(row.id, row.campaign_id) for row in rows.all()]
    await emit_closed(session, [one.contact_id for one in closed])
    why = detail or reason
    state_log.note(
        session,
        (
            Change("contact", state.value, one.campaign_id, one.contact_id, None, why)
            for one in closed
        ),
    )
    return closed
