"""``/audit``: every operator action, who did it (a token's name, a console user, a CLI
login), newest first."""

from __future__ import annotations

from pydantic import BaseModel, Field

from campaign_engine.api.registry import Call, Operation
from campaign_engine.journal import audit
from campaign_engine.journal.audit import AuditView
from campaign_engine.ops.tokens import Scope


class AuditQuery(BaseModel):
    limit: int = Field(50, ge=1, le=500)
    target_type: str | None = Field(None, max_length=32, description="campaign, contact, token…")
    target_id: str | None = Field(None, max_length=64)


async def list_audit(call: Call) -> list[AuditView]:
    query: AuditQuery = call.query
    return await audit.entries(
        call.db, limit=query.limit, target_type=query.target_type, target_id=query.target_id
    )


OPERATIONS = [
    Operation("GET", "/audit", list_audit, Scope.READ, "The audit log, newest first", "audit",
              query=AuditQuery, response=list[AuditView]),
]  # fmt: skip
