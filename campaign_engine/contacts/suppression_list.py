"""Keeping the do-not-call list: adding, removing, listing and bulk-importing entries.

An entry is an exact number (stored in E.164, so "+91 98765 43210" and "098765 43210" with
region IN are the same entry) or a number prefix ("+1800": every toll-free number), global or
for one campaign, with a reason, who added it and when. Adding an entry that is already there
(same kind, pattern and scope) is a no-op, so re-importing a list is safe. Checking numbers
against the list is ``suppression``'s job.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.columns import ColumnMapping, normalize_header
from campaign_engine.contacts.csv_source import open_csv
from campaign_engine.contacts.phone import PhoneError, check_region, normalize
from campaign_engine.contacts.reject_reasons import RejectReason
from campaign_engine.contacts.reject_report import RejectReport, refuse_overwriting_source
from campaign_engine.contacts.row_checks import Rejected
from campaign_engine.contacts.suppression import NUMBER, pattern_in
from campaign_engine.db.models import Campaign, Suppression

DEFAULT_CREATED_BY = "operator"
IMPORT_BATCH = 5000
_PREFIX = re.compile(r"\+[1-9]\d{0,14}")
_PREFIX_SEPARATORS = re.compile(r"[\s\-.()]")


def number_pattern(raw: str, default_region: str | None) -> str:
    """The E.164 form of a number to suppress; ValueError saying why it is not one."""
    parsed = normalize(raw, check_region(default_region))
    if isinstance(parsed, PhoneError):
        raise ValueError(f"cannot suppress {raw!r}: {parsed.detail}")
    return parsed.e164


def prefix_pattern(raw: str) -> str:
    """A prefix in international form ("+1 800" -> "+1800"); ValueError if it is not one."""
    text = _PREFIX_SEPARATORS.sub("", raw.strip())
    if text.startswith("00"):
        text = "+" + text[2:]
    if not _PREFIX.fullmatch(text):
        raise ValueError(
            f"prefix {raw!r} must be '+' and the leading digits of numbers in international "
            "form, e.g. +1800 or +9114"
        )
    return text


@dataclass
class AddResult:
    new: list[tuple[str, str]] = field(default_factory=list)
    """The ``(kind, pattern)`` entries this call added."""
    already: int = 0
    """Entries that were on the list already (same kind, pattern and scope)."""

    @property
    def added(self) -> int:
        return len(self.new)


AfterBatch = Callable[[AsyncSession, AddResult], Awaitable[None]]


async def add_entries(
    session: AsyncSession,
    entries: Iterable[tuple[str, str]],
    *,
    campaign_id: str | None = None,
    reason: str | None = None,
    created_by: str = DEFAULT_CREATED_BY,
    reasons: Sequence[str | None] | None = None,
) -> AddResult:
    """Add ``(kind, pattern)`` entries (patterns already normalized); ``reasons``, if given,
    is one reason per entry, overriding ``reason`` where it is not empty."""
    wanted = list(entries)
    if campaign_id is not None and await session.get(Campaign, campaign_id) is None:
        raise LookupError(f"campaign {campaign_id} not found")
    result = AddResult()
    if not wanted:
        return result
    dialect = session.get_bind().dialect.name
    present: set[tuple[str, str]] = set()
    for kind in {kind for kind, _ in wanted}:
        patterns = sorted({pattern for k, pattern in wanted if k == kind})
        scope = (
            Suppression.campaign_id.is_(None)
            if campaign_id is None
            else Suppression.campaign_id == campaign_id
        )
        found = await session.scalars(
            select(Suppression.pattern).where(
                scope, Suppression.kind == kind, pattern_in(patterns, dialect)
            )
        )
        present.update((kind, pattern) for pattern in found)
    rows = []
    for index, (kind, pattern) in enumerate(wanted):
        if (kind, pattern) in present:
            result.already += 1
            continue
        present.add((kind, pattern))
        result.new.append((kind, pattern))
        own = reasons[index] if reasons is not None else None
        rows.append(
            {
                "kind": kind,
                "pattern": pattern,
                "campaign_id": campaign_id,
                "reason": own or reason,
                "created_by": created_by,
            }
        )
    if rows:
        await session.execute(insert(Suppression), rows)
    return result


async def remove_entries(
    session: AsyncSession,
    entries: Iterable[tuple[str, str]],
    *,
    campaign_id: str | None = None,
) -> list[Suppression]:
    """Remove these entries from the given scope (global when no campaign); the ones removed."""
    removed: list[Suppression] = []
    scope = (
        Suppression.campaign_id.is_(None)
        if campaign_id is None
        else Suppression.campaign_id == campaign_id
    )
    for kind, pattern in entries:
        found = await session.scalars(
            select(Suppression).where(
                scope, Suppression.kind == kind, Suppression.pattern == pattern
            )
        )
        for entry in found.all():
            await session.delete(entry)
            removed.append(entry)
    await session.flush()
    return removed


async def remove_by_id(session: AsyncSession, entry_id: int) -> Suppression:
    entry = await session.get(Suppression, entry_id)
    if entry is None:
        raise LookupError(f"suppression entry {entry_id} not found")
    await session.delete(entry)
    return entry


async def list_entries(
    session: AsyncSession, campaign_id: str | None = None, *, limit: int | None = None
) -> list[Suppression]:
    """Every entry, or with a campaign the ones that apply to it (global and its own)."""
    query = select(Suppression).order_by(Suppression.id)
    if campaign_id is not None:
        query = query.where(
            (Suppression.campaign_id.is_(None)) | (Suppression.campaign_id == campaign_id)
        )
    if limit is not None:
        query = query.limit(limit)
    return list(await session.scalars(query))


@dataclass
class SuppressionImport:
    file: str
    phone_column: str = ""
    rows: int = 0
    added: int = 0
    already: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "phone_column": self.phone_column,
            "rows": self.rows,
            "added": self.added,
            "already": self.already,
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": dict(self.rejected),
        }


async def import_entries(
    sessions: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    campaign_id: str | None = None,
    reason: str | None = None,
    created_by: str = DEFAULT_CREATED_BY,
    default_region: str | None = None,
    phone_column: str | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    rejects_path: Path | None = None,
    after_batch: AfterBatch | None = None,
) -> SuppressionImport:
    """Add every number of a CSV file (read like a contact list: any encoding or delimiter,
    the phone column detected); a ``reason`` column, if there is one, gives each row's
    reason. Written in committed batches; rows that are not numbers are reported.
    ``after_batch`` runs inside each batch's transaction (to audit it with the batch)."""
    refuse_overwriting_source(rejects_path, path)
    region = check_region(default_region)
    if campaign_id is not None:
        async with sessions() as session:
            if await session.get(Campaign, campaign_id) is None:
                raise LookupError(f"campaign {campaign_id} not found")
    with open_csv(path, encoding=encoding, delimiter=delimiter) as source:
        mapping = ColumnMapping.build(source.header, phone_column=phone_column)
        reason_index = next(
            (i for i, name in enumerate(source.header) if normalize_header(name) == "reason"),
            None,
        )
        summary = SuppressionImport(file=str(path), phone_column=mapping.phone_column)
        report = RejectReport(rejects_path, source.header) if rejects_path else None
        batch: list[tuple[str, str]] = []
        batch_reasons: list[str | None] = []
        seen: set[str] = set()
        try:
            for line, fields, problem, detail in source:
                summary.rows += 1
                number: str | Rejected
                if problem is not None:
                    number = Rejected(line, problem, detail, {})
                else:
                    number = _number_of(line, fields[mapping.phone_index], region, seen)
                if isinstance(number, Rejected):
                    summary.rejected[number.reason.value] += 1
                    if report:
                        raw = dict(zip(source.header, fields, strict=False))
                        report.write(Rejected(line, number.reason, number.detail, raw))
                    continue
                seen.add(number)
                batch.append((NUMBER, number))
                own = fields[reason_index].strip() if reason_index is not None else None
                batch_reasons.append(own)
                if len(batch) >= IMPORT_BATCH:
                    await _add_batch(
                        sessions, summary, batch, batch_reasons,
                        campaign_id, reason, created_by, after_batch,
                    )  # fmt: skip
                    batch, batch_reasons = [], []
            await _add_batch(
                sessions, summary, batch, batch_reasons,
                campaign_id, reason, created_by, after_batch,
            )  # fmt: skip
        finally:
            if report:
                report.close()
    return summary


def _number_of(line: int, cell: str, region: str | None, seen: set[str]) -> str | Rejected:
    parsed = normalize(cell, region)
    if isinstance(parsed, PhoneError):
        return Rejected(line, parsed.reason, parsed.detail, {})
    if parsed.e164 in seen:
        detail = f"{parsed.e164} already appears on an earlier row"
        return Rejected(line, RejectReason.DUPLICATE_IN_FILE, detail, {})
    return parsed.e164


async def _add_batch(
    sessions: async_sessionmaker[AsyncSession],
    summary: SuppressionImport,
    batch: list[tuple[str, str]],
    reasons: list[str | None],
    campaign_id: str | None,
    reason: str | None,
    created_by: str,
    after_batch: AfterBatch | None,
) -> None:
    if not batch:
        return
    async with sessions() as session, session.begin():
        added = await add_entries(
            session,
            batch,
            campaign_id=campaign_id,
            reason=reason,
            created_by=created_by,
            reasons=reasons,
        )
        if after_batch is not None:
            await after_batch(session, added)
    summary.added += added.added
    summary.already += added.already
