"""The streaming part of an import: chunks of records in, checked on every core, batches out.

Three things overlap, so a million rows take seconds rather than minutes: this process cuts
the file into chunks of bytes (or reads a database source's records), worker processes parse
and check them (``CheckerPool``) and send back each accepted row already encoded for the
database, and the previous batch is being written (a task of its own). Everything stays in
file order: chunk results are taken in the order they were submitted, the in-file duplicate
check sees rows in that order, and a batch starts writing only once the one before it has
committed. This process does as little per row as it can (every row passes through it): a
set lookup for the duplicate check, and an append to the batch.

This process's own work (cutting, deduplicating) is CPU-bound code between awaits, and the
batch being written makes progress only when it yields: a batch is several round trips to the
database, each waiting for the next yield. So the work comes in small chunks, each followed by
a yield; otherwise the writer, not the database, would set the pace.

Memory stays flat: a bounded number of chunks is in flight (about a batch's worth more than
the workers hold, so they keep checking while a full batch waits for the write before it),
at most one batch is being written while the next fills, rejected rows go straight to the
report, and the only thing that grows with the file is the set of numbers already seen
(``FirstSeen``).

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

from campaign_engine.contacts.bulk_insert import insert_new_contacts, relaxed_commit
from campaign_engine.contacts.checker_pool import CheckerPool
from campaign_engine.contacts.csv_chunks import CsvChunk, fields_of_text
from campaign_engine.contacts.payloads import Encoded
from campaign_engine.contacts.reject_reasons import RejectReason
from campaign_engine.contacts.reject_report import RejectReport
from campaign_engine.contacts.row_checks import (
    CheckedChunk,
    FirstSeen,
    Rejected,
    Setup,
    Work,
    repeated,
)
from campaign_engine.contacts.summary import ImportSummary, Progress
from campaign_engine.contacts.suppression import describe, suppressed_among
from campaign_engine.db.models import utcnow


class _Batch:
    """Contacts to write in one transaction, with the chunk each came from (for its cells,
    should it be refused)."""

    def __init__(self) -> None:
        self.contacts: list[Encoded] = []
        self.chunks: list[Work] = []


class ImportPipeline:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        campaign_id: str,
        setup: Setup,
        summary: ImportSummary,
        *,
        report: RejectReport | None,
        batch_size: int,
        workers: int | None,
        dry_run: bool,
        progress: Progress | None,
        chunk_rows: int = 1000,
    ) -> None:
        self._sessions = sessions
        self._campaign_id = campaign_id
        self._setup = setup
        self._summary = summary
        self._report = report
        self._batch_size = batch_size
        self._workers = workers
        self._dry_run = dry_run
        self._progress = progress
        # While a full batch waits for the one being written, the workers go on checking
        # what is in flight: a batch's worth keeps them busy for about a write's time.
        self._backlog = -(-batch_size // max(1, chunk_rows))
        self._first_seen = FirstSeen()
        self._batch = _Batch()
        self._writing: asyncio.Task[None] | None = None
        self._cells: tuple[Work | None, dict[int, list[str]]] = (None, {})

    async def run(self, chunks: AsyncIterator[Work]) -> None:
        """Import every record of ``chunks``; returns once the last batch is committed."""
        in_flight: deque[tuple[Work, asyncio.Future[CheckedChunk]]] = deque()
        async with CheckerPool(self._setup, self._workers) as pool:
            try:
                async for chunk in chunks:
                    in_flight.append((chunk, await pool.submit(chunk)))
                    while len(in_flight) > pool.depth + self._backlog:
                        await self._take(*in_flight.popleft())
                while in_flight:
                    await self._take(*in_flight.popleft())
                await self._start_write(last=True)
                await self._finish_write()
            finally:
                await self._abandon_write()

    async def _take(self, chunk: Work, future: asyncio.Future[CheckedChunk]) -> None:
        accepted, refused = await future
        await asyncio.sleep(0)  # let the batch being written take its next step
        self._summary.rows += len(accepted) + len(refused)
        first_seen, batch = self._first_seen, self._batch
        waiting = 0  # refused rows are reported in line order among the accepted ones
        for contact in accepted:
            line, e164 = contact[0], contact[1]
            while waiting < len(refused) and refused[waiting][0] < line:
                self._reject(*refused[waiting])
                waiting += 1
            if first_seen.is_first(e164):
                batch.contacts.append(contact)
                batch.chunks.append(chunk)
                if len(batch.contacts) >= self._batch_size:
                    await self._start_write()
                    batch = self._batch
            else:
                refusal = repeated(e164)
                self._reject(line, refusal.reason, refusal.detail, self._fields(chunk, contact))
        for entry in refused[waiting:]:
            self._reject(*entry)

    def _fields(self, chunk: Work, contact: Encoded) -> list[str]:
        """An accepted row's cells, for the report: from its text, or its database record."""
        if isinstance(chunk, CsvChunk):
            assert self._setup.layout is not None
            return fields_of_text(contact[3], self._setup.layout)
        cached, cells = self._cells
        if cached is not chunk:
            cells = {record.line: record.fields for record in chunk}
            self._cells = (chunk, cells)
        return cells[contact[0]]

    def _reject(self, line: int, reason: RejectReason, detail: str, fields: list[str]) -> None:
        self._summary.rejected[reason.value] += 1
        if self._report is not None:
            raw = dict(zip(self._setup.plan.headers, fields, strict=False))
            self._report.write(Rejected(line, reason, detail, raw))

    async def _start_write(self, *, last: bool = False) -> None:
        """Hand the filled batch to the writer, once the previous one has committed."""
        await self._finish_write()
        batch, self._batch = self._batch, _Batch()
        if batch.contacts:
            self._writing = asyncio.create_task(self._write(batch, durable=last))

    async def _finish_write(self) -> None:
        if self._writing is not None:
            writing, self._writing = self._writing, None
            await writing

    async def _abandon_write(self) -> None:
        """After a failure elsewhere: let a batch in flight commit or roll back, not tear."""
        if self._writing is not None and not self._writing.done():
            with contextlib.suppress(Exception):
                await self._writing

    async def _write(self, batch: _Batch, *, durable: bool) -> None:
        """One batch in one transaction. Only the last waits for its commit to reach the
        disk (``relaxed_commit``): that flush makes every earlier commit durable too, and
        until then a crash loses at most whole batches, which a re-run imports."""
        contacts = batch.contacts
        async with self._sessions() as session:
            if not durable:
                await relaxed_commit(session)
            # Described now: a dry run's rollback expires the entries it loaded.
            suppressed = {
                e164: describe(entry)
                for e164, entry in (
                    await suppressed_among(
                        session, [contact[1] for contact in contacts], self._campaign_id
                    )
                ).items()
            }
            if suppressed:
                contacts = [contact for contact in contacts if contact[1] not in suppressed]
            present = await insert_new_contacts(
                session, self._campaign_id, contacts, due_at=utcnow()
            )
            if self._dry_run:
                await session.rollback()
            else:
                await session.commit()
        self._summary.imported += len(contacts) - len(present)
        if suppressed or present:
            self._reject_refused(batch, suppressed, present)
        if self._progress is not None:
            self._progress(self._summary)

    def _reject_refused(self, batch: _Batch, suppressed: dict[str, str], present: set[str]) -> None:
        for contact, chunk in zip(batch.contacts, batch.chunks, strict=True):
            line, e164 = contact[0], contact[1]
            entry = suppressed.get(e164)
            if entry is not None:
                detail = f"{e164} is on the do-not-call list: {entry}"
                reason = RejectReason.SUPPRESSED
            elif e164 in present:
                detail = f"{e164} is already in this campaign"
                reason = RejectReason.DUPLICATE_IN_CAMPAIGN
            else:
                continue
            self._reject(line, reason, detail, self._fields(chunk, contact))
