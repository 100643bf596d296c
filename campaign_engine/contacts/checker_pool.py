"""Checking rows on every core while the import reads and writes, in file order.

Parsing CSV and validating phone numbers is pure CPU, so one process cannot keep up with a
fast database. Chunks of the file's bytes (or of a database source's records) go to worker
processes, which parse and check them and send back each accepted row already encoded for
the database (``CheckedChunk``); the caller awaits the results in the order it submitted the
chunks, so line numbers and "the first row with a number wins" stay exactly as in a
one-process import.

The workers are plain child processes running ``checker_worker`` with pipes to this one,
rather than a ``multiprocessing`` pool: a spawned pool worker re-runs the program's main
module (for ``campaign-engine`` that imports the whole CLI: a second and ~100 MB per worker),
and a forked one copies this process (its connections, threads and memory). The pipes are
read by the event loop, so waiting for results never blocks a batch being written.

Ctrl-C reaches the workers too (same process group); they ignore it, and this process closes
their input on the way out, so an interrupted import still ends at a batch boundary.

Small imports never start workers (starting them costs more than it saves): unless a number
of workers is asked for, records are checked in-process until ``PARALLEL_FROM_ROWS`` of them
have been seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import sys
from collections import deque
from types import TracebackType
from typing import Self

import phonenumbers

from campaign_engine.contacts.checker_worker import FRAME_HEADER, encode_frame
from campaign_engine.contacts.csv_chunks import CsvChunk
from campaign_engine.contacts.csv_source import CsvFormatError
from campaign_engine.contacts.row_checks import CheckedChunk, Setup, Work

PARALLEL_FROM_ROWS = 10_000
CHUNKS_PER_WORKER = 2
"""Chunks in flight per worker: one being checked, one queued so it never waits for us."""
STOP_SECONDS = 5.0

Results = CheckedChunk


def available_cores() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


class _Worker:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.pending: deque[asyncio.Future[Results]] = deque()
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while True:
                header = await stdout.readexactly(FRAME_HEADER.size)
                (size,) = FRAME_HEADER.unpack(header)
                results: Results | CsvFormatError = pickle.loads(await stdout.readexactly(size))
                future = self.pending.popleft()
                if future.done():
                    continue
                if isinstance(results, CsvFormatError):
                    future.set_exception(results)
                else:
                    future.set_result(results)
        except asyncio.IncompleteReadError:
            status = await self.process.wait()
            self._fail(RuntimeError(f"a row-checking worker process exited (status {status})"))
        except BaseException as exc:
            self._fail(exc)
            raise

    def _fail(self, exc: BaseException) -> None:
        while self.pending:
            future = self.pending.popleft()
            if not future.done():
                future.set_exception(exc)

    def send(self, frame: bytes) -> asyncio.Future[Results]:
        stdin = self.process.stdin
        assert stdin is not None
        future: asyncio.Future[Results] = asyncio.get_running_loop().create_future()
        if self.reader.done():
            future.set_exception(RuntimeError("a row-checking worker process has stopped"))
            return future
        self.pending.append(future)
        stdin.write(frame)
        return future

    async def stop(self) -> None:
        stdin = self.process.stdin
        if stdin is not None and not stdin.is_closing():
            stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), STOP_SECONDS)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.reader
        self._fail(RuntimeError("the row-checking workers were stopped"))


class CheckerPool:
    """``submit`` chunks of records; each future holds one result per record, in order.

    ``workers=None`` means "all available cores, once the import is big enough"; ``0`` checks
    everything in this process; a positive number starts that many workers at the first chunk.
    Use ``async with``.
    """

    def __init__(
        self,
        setup: Setup,
        workers: int | None = None,
        *,
        parallel_from_rows: int = PARALLEL_FROM_ROWS,
    ) -> None:
        if workers is not None and workers < 0:
            raise ValueError("the number of workers cannot be negative")
        self._setup = setup
        phonenumbers.enable_pattern_cache()  # as the workers do, for chunks checked here
        self._size = available_cores() if workers is None else workers
        self._parallel_from = parallel_from_rows if workers is None else 0
        self._rows = 0
        self._workers: list[_Worker] = []

    @property
    def parallel(self) -> bool:
        return bool(self._workers)

    @property
    def pids(self) -> list[int]:
        """The worker processes' ids (for diagnostics; empty when checking in-process)."""
        return [worker.process.pid for worker in self._workers]

    @property
    def depth(self) -> int:
        """How many submitted chunks to keep in flight before waiting for the oldest."""
        return max(1, self._size * CHUNKS_PER_WORKER)

    async def submit(self, work: Work) -> asyncio.Future[Results]:
        self._rows += work.data.count(b"\n") if isinstance(work, CsvChunk) else len(work)
        if not self._workers and self._size > 0 and self._rows > self._parallel_from:
            await self._start()
        if not self._workers:
            done: asyncio.Future[Results] = asyncio.get_running_loop().create_future()
            checked = self._setup.check(work)
            if isinstance(checked, CsvFormatError):
                done.set_exception(checked)
            else:
                done.set_result(checked)
            return done
        worker = min(self._workers, key=lambda candidate: len(candidate.pending))
        future = worker.send(encode_frame(work))
        stdin = worker.process.stdin
        assert stdin is not None
        # A worker that died fails this chunk through its reader (which sees it exit).
        with contextlib.suppress(ConnectionError):
            await stdin.drain()
        return future

    async def _start(self) -> None:
        setup = encode_frame(self._setup)
        for _ in range(self._size):
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "campaign_engine.contacts.checker_worker",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
            )
            assert process.stdin is not None
            process.stdin.write(setup)
            self._workers.append(_Worker(process))

    async def close(self) -> None:
        """Stop the workers (chunks still being checked are abandoned)."""
        workers, self._workers = self._workers, []
        await asyncio.gather(*(worker.stop() for worker in workers))

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
