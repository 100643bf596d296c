"""Checking rows in worker processes gives the in-process results, in submission order."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from campaign_engine.contacts.checker_pool import CheckerPool
from campaign_engine.contacts.columns import ColumnMapping
from campaign_engine.contacts.csv_source import Record
from campaign_engine.contacts.reasons import RejectReason
from campaign_engine.contacts.rows import Refused, RowPlan, check_chunk

PLAN = RowPlan.build(ColumnMapping.build(["phone", "name"]), "IN")
ROWS = [
    [f"98765 432{index:02d}" if index % 4 else f"bad {index}", f"P{index}"] for index in range(30)
]


def chunks(size: int) -> list[list[Record]]:
    records = [Record(line, fields) for line, fields in enumerate(ROWS, start=2)]
    return [records[start : start + size] for start in range(0, len(records), size)]


async def test_two_workers_return_each_chunks_results_in_submission_order() -> None:
    async with CheckerPool(PLAN, workers=2) as pool:
        futures = [await pool.submit(chunk) for chunk in chunks(3)]
        assert pool.parallel and len(pool.pids) == 2
        results = [result for future in futures for result in await future]

    assert results == check_chunk(ROWS, PLAN)
    assert isinstance(results[0], Refused) and results[0].reason == RejectReason.INVALID_NUMBER
    assert results[1].e164 == "+919876543201"  # type: ignore[union-attr]


async def test_small_imports_are_checked_in_process_without_starting_workers() -> None:
    async with CheckerPool(PLAN, parallel_from_rows=100) as pool:
        results = [await (await pool.submit(chunk)) for chunk in chunks(10)]
        assert not pool.parallel

    assert [result for chunk in results for result in chunk] == check_chunk(ROWS, PLAN)


async def test_zero_workers_never_starts_a_process() -> None:
    async with CheckerPool(PLAN, workers=0, parallel_from_rows=0) as pool:
        await pool.submit(chunks(30)[0])
        assert pool.pids == []


async def test_a_worker_that_dies_fails_its_chunks_instead_of_hanging() -> None:
    async with CheckerPool(PLAN, workers=1) as pool:
        await (await pool.submit(chunks(3)[0]))
        os.kill(pool.pids[0], signal.SIGKILL)
        with pytest.raises(RuntimeError, match="worker process"):
            future = await pool.submit(chunks(3)[1])
            await asyncio.wait_for(future, 10)


async def test_closing_the_pool_ends_its_worker_processes() -> None:
    pool = CheckerPool(PLAN, workers=2)
    await (await pool.submit(chunks(3)[0]))
    pids = pool.pids
    await pool.close()

    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
