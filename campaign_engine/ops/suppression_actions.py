"""Operators' changes to the do-not-call list, each written to the audit log in the same
transaction: who added or removed which entry, and why.

Every number or prefix added or removed by name gets an entry of its own, so ``ops audit
--target number:+919876543210`` answers "who took this number off the list, and why". An
import, which may add a million numbers, gets one entry per committed batch with its counts
instead; each number it adds carries the actor as its ``created_by``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.contacts.suppression_list import (
    AddResult,
    AfterBatch,
    add_entries,
    remove_by_id,
    remove_entries,
)
from campaign_engine.journal.audit import record

ADD, REMOVE, IMPORT = "suppress-add", "suppress-remove", "suppress-import"


async def add(
    session: AsyncSession,
    entries: Iterable[tuple[str, str]],
    *,
    actor: str,
    campaign_id: str | None = None,
    reason: str | None = None,
) -> AddResult:
    """Add ``(kind, pattern)`` entries; the ones already listed change nothing, so are not
    audited."""
    result = await add_entries(
        session, entries, campaign_id=campaign_id, reason=reason, created_by=actor
    )
    for kind, pattern in result.new:
        await record(
            session,
            actor=actor,
            action=ADD,
            target_type=kind,
            target_id=pattern,
            details={"campaign_id": campaign_id, "reason": reason},
        )
    return result


async def remove(
    session: AsyncSession,
    entries: Iterable[tuple[str, str]],
    *,
    actor: str,
    entry_ids: Iterable[int] = (),
    campaign_id: str | None = None,
    reason: str | None = None,
) -> int:
    """Remove entries by ``(kind, pattern)`` in one scope, and by id; how many went.

    The audit entry keeps who added each one and why, since the row itself is gone.
    """
    removed = await remove_entries(session, entries, campaign_id=campaign_id)
    for entry_id in entry_ids:
        removed.append(await remove_by_id(session, entry_id))
    for entry in removed:
        await record(
            session,
            actor=actor,
            action=REMOVE,
            target_type=entry.kind,
            target_id=entry.pattern,
            details={
                "campaign_id": entry.campaign_id,
                "reason": reason,
                "entry_id": entry.id,
                "added_by": entry.created_by,
                "added_reason": entry.reason,
            },
        )
    return len(removed)


def import_audit(
    path: Path, *, actor: str, campaign_id: str | None, reason: str | None
) -> AfterBatch:
    """The ``after_batch`` hook of ``import_entries`` that audits each committed batch."""

    async def audit_batch(session: AsyncSession, batch: AddResult) -> None:
        await record(
            session,
            actor=actor,
            action=IMPORT,
            target_type="file",
            target_id=path.name[:64],
            details={
                "file": str(path),
                "campaign_id": campaign_id,
                "reason": reason,
                "added": batch.added,
                "already": batch.already,
            },
        )

    return audit_batch
