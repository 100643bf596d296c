"""``/audit``: every operator action, who did it (a token's name, a console user, a CLI
login), newest first."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field
from sqlalchemy import and_, func, or_, select

from campaign_engine.api import pages
from campaign_engine.api.problems import invalid
from campaign_engine.api.registry import Call, Operation
from campaign_engine.db.models import AuditEntry
from campaign_engine.journal.audit import AuditView
from campaign_engine.ops.tokens import Scope


class AuditQuery(pages.PageQuery):
    target_type: str | None = Field(None, max_length=32, description="campaign, contact, token…")
    target_id: str | None = Field(None, max_length=64)


def _view(row: AuditEntry) -> AuditView:
    return AuditView(
        id=row.id, at=row.created_at, actor=row.actor, action=row.action,
        target_type=row.target_type, target_id=row.target_id, details=row.details,
    )  # fmt: skip


async def list_audit(call: Call) -> pages.Page[AuditView]:
    """Newest first (time, then id), a page at a time."""
    query: AuditQuery = call.query
    after = pages.decode(query.cursor, 2)
    where = []
    if query.target_type is not None:
        where.append(AuditEntry.target_type == query.target_type)
    if query.target_id is not None:
        where.append(AuditEntry.target_id == query.target_id)
    total = await call.db.scalar(select(func.count()).select_from(AuditEntry).where(*where))
    if after is not None:
        try:
            at, last = datetime.fromisoformat(str(after[0])), int(after[1])
        except (TypeError, ValueError):
            raise invalid("query.cursor", "not a cursor this API gave out") from None
        where.append(
            or_(AuditEntry.created_at < at, and_(AuditEntry.created_at == at, AuditEntry.id < last))
        )
    rows = (
        await call.db.scalars(
            select(AuditEntry)
            .where(*where)
            .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
            .limit(query.limit + 1)
        )
    ).all()
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    cursor = pages.encode([rows[-1].created_at.isoformat(), rows[-1].id]) if more else None
    return pages.Page[AuditView](
        items=[_view(row) for row in rows], total=total or 0, next_cursor=cursor
    )


OPERATIONS = [
    Operation("GET", "/audit", list_audit, Scope.READ, "The audit log, newest first", "audit",
              query=AuditQuery, response=pages.Page[AuditView]),
]  # fmt: skip
