"""The streaming part of an import: chunks of records in, checked on every core, batches out.

Three things overlap, so a million rows take seconds rather than minutes: this process reads
records (CSV or database), worker processes check chunks of them (``CheckerPool``), and the
previous batch is being written (a task of its own). Everything stays in file order: chunk
results are taken in the order they were submitted, the in-file duplicate check sees rows in
that order, and a batch starts writing only once the one before it has committed.

This process's own work (reading, deduplicating) is CPU-bound code between awaits, and the
batch being written makes progress only when it yields: a batch is several round trips to the
database, each waiting for the next yield. So the work comes in small chunks, each followed by
a yield; otherwise the writer, not the database, would set the pace.

Memory stays flat: a bounded number of chunks is in flight, at most one batch is being
written while the next fills, rejected rows go straight to the report, and the only thing that
grows with the file is the set of numbers already seen (``FirstSeen``).

Each batch is one transaction: the suppression list and the numbers already in the campaign
are checked inside it, so an interrupted import keeps whole batches and a re-run completes it
without adding anyone twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.contacts.bulk_insert import NewContact, insert_new_contacts
from campaign_engine.contacts.checker_pool import CheckerPool
from campaign_engine.contacts.csv_source import Record
from campaign_engine.contacts.reasons import RejectReason
from campaign_engine.contacts.reject_report import RejectReport
from campaign_engine.contacts.rows import FirstSeen, Refused, Rejected, RowPlan, Valid
from campaign_engine.contacts.summary import ImportSummary, Progress
from campaign_engine.contacts.suppression import describe, suppressed_among
from campaign_engine.db.models import utcnow


class _Batch:
    """Contacts to write in one transaction, with their original cells for the report."""

    def __init__(self) -> None:
        self.contacts: list[NewContact] = []
        self.fields: list[list[str]] = []


class ImportPipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        campaign_id: str,
        plan: RowPlan,
        summary: ImportSummary,
        *,
        report: RejectReport | None,
        batch_size: int,
        workers: int | None,
        dry_run: bool,
        progress: Progress | None,
    ) -> None:
        self._sessions = sessions
        self._campaign_id = campaign_id
        self._plan = plan
        self._summary = summary
        self._report = report
        self._batch_size = batch_size
        self._workers = workers
        self._dry_run = dry_run
        self._progress = progress
        self._first_seen = FirstSeen()
        self._batch = _Batch()
        self._writing: asyncio.Task[None] | None = None

    async def run(self, chunks: AsyncIterator[list[Record]]) -> None:
        """Import every record of ``chunks``; returns once the last batch is committed."""
        in_flight: deque[tuple[list[Record], asyncio.Future[list[Valid | Refused]]]] = deque()
        async with CheckerPool(self._plan, self._workers) as pool:
            try:
                async for chunk in chunks:
                    in_flight.append((chunk, await pool.submit(chunk)))
                    while len(in_flight) > pool.depth:
                        await self._take(*in_flight.popleft())
                while in_flight:
                    await self._take(*in_flight.popleft())
                await self._start_write()
                await self._finish_write()
            finally:
                await self._abandon_write()

    async def _take(
        self, records: list[Record], future: asyncio.Future[list[Valid | Refused]]
    ) -> None:
        results = await future
        await asyncio.sleep(0)  # let the batch being written take its next step
        summary = self._summary
        for record, result in zip(records, results, strict=True):
            summary.rows += 1
            if record.problem is not None:  # the reader refused it; its check is moot
                self._reject(record.line, record.fields, record.problem, record.detail)
                continue
            if isinstance(result, Valid):
                refused = self._first_seen.refusal(result.e164)
                if refused is None:
                    batch = self._batch
                    batch.contacts.append(NewContact(record.line, *result))
                    batch.fields.append(record.fields)
                    if len(batch.contacts) >= self._batch_size:
                        await self._start_write()
                    continue
                result = refused
            self._reject(record.line, record.fields, result.reason, result.detail)

    def _reject(self, line: int, fields: list[str], reason: RejectReason, detail: str) -> None:
        self._summary.rejected[reason.value] += 1
        if self._report is not None:
            raw = dict(zip(self._plan.headers, fields, strict=False))
            self._report.write(Rejected(line, reason, detail, raw))

    async def _start_write(self) -> None:
        """Hand the filled batch to the writer, once the previous one has committed."""
        await self._finish_write()
        batch, self._batch = self._batch, _Batch()
        if batch.contacts:
            self._writing = asyncio.create_task(self._write(batch))

    async def _finish_write(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing

    async def _abandon_write(self) -> None:
        """After a failure elsewhere: let a batch in flight commit or roll back, not tear."""
        if self._writing is not None and not self._writing.done():
            with contextlib.suppress(Exception):
                await self._writing

    async def _write(self, batch: _Batch) -> None:
        numbers = [contact.e164 for contact in batch.contacts]
        async with self._sessions() as session:
            suppressed = await suppressed_among(session, numbers, self._campaign_id)
            allowed = [c for c in batch.contacts if c.e164 not in suppressed]
            present = await insert_new_contacts(
                session, self._campaign_id, allowed, due_at=utcnow()
            )
            if self._dry_run:
                await session.rollback()
            else:
                await session.commit()
        self._summary.imported += len(allowed) - len(present)
        for contact, fields in zip(batch.contacts, batch.fields, strict=True):
            entry = suppressed.get(contact.e164)
            if entry is not None:
                detail = f"{contact.e164} is on the do-not-call list: {describe(entry)}"
                self._reject(contact.line, fields, RejectReason.SUPPRESSED, detail)
            elif contact.e164 in present:
                detail = f"{contact.e164} is already in this campaign"
                self._reject(contact.line, fields, RejectReason.DUPLICATE_IN_CAMPAIGN, detail)
        if self._progress is not None:
            self._progress(self._summary)
