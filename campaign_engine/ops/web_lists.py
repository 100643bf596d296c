"""The console's long lists, a page at a time, each saying how much there is ("showing
1-100 of 2,345", with an en dash) with links to the next and previous pages; and the lists
only the console reads (the audit log filtered, contacts searched).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import AuditEntry, Contact
from campaign_engine.journal.audit import AuditView
from campaign_engine.ops.retry_reasons import DEAD_STATES
from campaign_engine.ops.web_times import next_call_text

PAGE_SIZE = 100
EN_DASH = "\u2013"


@dataclass(frozen=True)
class Page:
    """Where a list is: ``size`` rows from ``offset`` of ``total``, and the filters the
    next and previous links carry along."""

    offset: int
    total: int
    size: int = PAGE_SIZE
    filters: dict[str, str] = field(default_factory=dict)

    def showing(self) -> str:
        if self.total == 0:
            return "nothing to show"
        last = min(self.offset + self.size, self.total)
        return f"showing {self.offset + 1:,}{EN_DASH}{last:,} of {self.total:,}"

    @property
    def has_previous(self) -> bool:
        return self.offset > 0

    @property
    def has_next(self) -> bool:
        return self.offset + self.size < self.total

    def query(self, offset: int) -> str:
        return "?" + urlencode({**self.filters, "offset": max(offset, 0)})


def offset_of(value: str | None) -> int:
    """The ``offset`` query value; a missing or bad one is the first page."""
    try:
        return max(int(value or 0), 0)
    except ValueError:
        return 0


async def audit_page(
    session: AsyncSession,
    *,
    offset: int,
    actor: str | None = None,
    campaign_id: str | None = None,
    size: int = PAGE_SIZE,
) -> tuple[list[AuditView], int]:
    """The latest audit entries first (one page), and how many the filters match."""
    conditions = []
    if actor:
        conditions.append(AuditEntry.actor == actor)
    if campaign_id:
        conditions.append(AuditEntry.target_id == campaign_id)
    total = await session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions))
    rows = await session.scalars(
        select(AuditEntry)
        .where(*conditions)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(size)
        .offset(offset)
    )
    views = [
        AuditView(
            id=row.id,
            at=row.created_at,
            actor=row.actor,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id,
            details=row.details,
        )
        for row in rows.all()
    ]
    return views, int(total or 0)


async def dead_total(session: AsyncSession, *, campaign_id: str | None, phone: str | None) -> int:
    """How many given-up contacts the dead letters' filters match (they list one page)."""
    conditions: list[ColumnElement[bool]] = [Contact.state.in_(DEAD_STATES)]
    if campaign_id:
        conditions.append(Contact.campaign_id == campaign_id)
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if digits:
        conditions.append(Contact.phone_e164.contains(digits))
    total = await session.scalar(select(func.count()).select_from(Contact).where(*conditions))
    return int(total or 0)


@dataclass(frozen=True)
class FoundContact:
    id: int
    campaign_id: str
    phone: str
    state: str
    attempts_count: int
    last_outcome: str | None
    next_call: str | None


async def search_contacts(
    session: AsyncSession,
    *,
    offset: int,
    now: datetime,
    phone: str | None = None,
    campaign_id: str | None = None,
    state: str | None = None,
    text: str | None = None,
    size: int = PAGE_SIZE,
) -> tuple[list[FoundContact], int]:
    """Contacts matching every filter given (a phone by its digits, a text anywhere in the
    variables), in id order, one page; and how many match."""
    conditions = []
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    if digits:
        conditions.append(Contact.phone_e164.contains(digits))
    if campaign_id:
        conditions.append(Contact.campaign_id == campaign_id)
    if state:
        conditions.append(Contact.state == state)
    if text:
        conditions.append(cast(Contact.variables, String).contains(text))
    total = await session.scalar(select(func.count()).select_from(Contact).where(*conditions))
    rows = await session.scalars(
        select(Contact).where(*conditions).order_by(Contact.id).limit(size).offset(offset)
    )
    found = [
        FoundContact(
            id=row.id,
            campaign_id=row.campaign_id,
            phone=row.phone_e164,
            state=row.state,
            attempts_count=row.attempts_count,
            last_outcome=row.last_outcome,
            next_call=next_call_text(row.state, row.next_attempt_at, row.timezones or [], now),
        )
        for row in rows.all()
    ]
    return found, int(total or 0)
