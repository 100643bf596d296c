"""One log line per state change: every attempt's moves, contacts closed without a call, and
campaign lifecycle moves — each with its campaign, contact and attempt ids as fields.

Changes are noted on the session that makes them and written when its transaction commits:
a change that was rolled back never happened and is never logged, and a batch of a thousand
outcomes costs no log I/O until it is durable. (A contact's moves between waiting and
queued are queue bookkeeping, not outcomes, and are not logged.) Numbers in details are
masked like every line at INFO (:mod:`campaign_engine.journal.logs`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from campaign_engine.journal.logs import mask

log = logging.getLogger("campaign_engine.state")
_PENDING = "campaign_engine.state_log"


@dataclass(frozen=True, slots=True)
class Change:
    """``entity`` (attempt, contact or campaign) moved to ``state``; ``detail`` says why or
    what follows (an outcome, an error, the contact's next state)."""

    entity: str
    state: str
    campaign_id: str | None
    contact_id: int | None = None
    attempt_id: int | None = None
    detail: str | None = None

    def message(self) -> str:
        if self.entity == "attempt":
            subject = f"attempt {self.attempt_id} (contact {self.contact_id})"
        elif self.entity == "contact":
            subject = f"contact {self.contact_id}"
        else:
            subject = "campaign"
        text = f"{subject} {self.state}"
        if self.detail:
            text += f": {self.detail}"
        return f"{text} [campaign {self.campaign_id}]"

    def fields(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "entity": self.entity,
            "state": self.state,
            "campaign_id": self.campaign_id,
        }
        if self.contact_id is not None:
            found["contact_id"] = self.contact_id
        if self.attempt_id is not None:
            found["attempt_id"] = self.attempt_id
        if self.detail:
            found["detail"] = mask(self.detail)
        return found


def note(session: AsyncSession | Session, changes: Iterable[Change]) -> None:
    """Log ``changes`` when ``session``'s transaction commits (nothing if it rolls back)."""
    if not log.isEnabledFor(logging.INFO):
        return
    session.info.setdefault(_PENDING, []).extend(changes)


@event.listens_for(Session, "after_commit")
def _write(session: Session) -> None:
    for change in session.info.pop(_PENDING, ()):
        log.info(change.message(), extra={"fields": change.fields()})


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_PENDING, None)
