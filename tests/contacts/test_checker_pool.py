"""Checking chunks in worker processes gives the in-process results, in submission order."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from campaign_engine.contacts.checker_pool import CheckerPool
from campaign_engine.contacts.columns import ColumnMapping
from campaign_engine.contacts.csv_chunks import CsvChunk
from campaign_engine.contacts.csv_source import CsvFormatError, CsvLayout, Record
from campaign_engine.contacts.reject_reasons import RejectReason
from campaign_engine.contacts.row_checks import CheckedChunk, RowPlan, Setup

HEADER = ("phone", "name")
SETUP = Setup(
    RowPlan.build(ColumnMapping.build(HEADER), "IN"),
    CsvLayout("list.csv", "utf-8", ",", HEADER),
    "postgresql",
)
ROWS = [
    [f"98765 432{index:02d}" if index % 4 else f"bad {index}", f"P{index}"] for index in range(30)
]


def chunks(size: int) -> list[list[Record]]:
    records = [Record(line, fields) for line, fields in enumerate(ROWS, start=2)]
    return [records[start : start + size] for start in range(0, len(records), size)]


def joined(results: list[CheckedChunk]) -> CheckedChunk:
    return CheckedChunk(
        [row for result in results for row in result.accepted],
        [row for result in results for row in result.refused],
    )


async def test_two_workers_return_each_chunks_results_in_submission_order() -> None:
    async with CheckerPool(SETUP, workers=2) as pool:
        futures = [await pool.submit(chunk) for chunk in chunks(3)]
        assert pool.parallel and len(pool.pids) == 2
        results = joined([await future for future in futures])

    assert results == SETUP.check([record for chunk in chunks(30) for record in chunk])
    assert results.refused[0][:2] == (2, RejectReason.INVALID_NUMBER)
    assert results.accepted[0][:2] == (3, "+919876543201")
    assert results.accepted[0][2].startswith("3\t+919876543201\tIN\t")  # COPY text


async def test_workers_parse_csv_chunks_and_report_a_broken_one_in_its_turn() -> None:
    good = CsvChunk(2, b"98765 43210,Asha\n12345,Bad\n")
    broken = CsvChunk(4, b'1,"open' + b"x" * 200_000)
    async with CheckerPool(SETUP, workers=1) as pool:
        futures = [await pool.submit(chunk) for chunk in (good, broken)]
        checked = await futures[0]
        with pytest.raises(CsvFormatError, match=r"list\.csv: line 4"):
            await futures[1]

    assert checked.accepted[0][1::2] == ("+919876543210", "98765 43210,Asha\n")
    assert checked.refused == [
        (3, RejectReason.INVALID_NUMBER, checked.refused[0][2], ["12345", "Bad"])
    ]


async def test_small_imports_are_checked_in_process_without_starting_workers() -> None:
    async with CheckerPool(SETUP, parallel_from_rows=100) as pool:
        results = [await (await pool.submit(chunk)) for chunk in chunks(10)]
        assert not pool.parallel

    assert joined(results) == SETUP.check([record for chunk in chunks(30) for record in chunk])


async def test_zero_workers_never_starts_a_process() -> None:
    async with CheckerPool(SETUP, workers=0, parallel_from_rows=0) as pool:
        await pool.submit(chunks(30)[0])
        assert pool.pids == []


async def test_a_worker_that_dies_fails_its_chunks_instead_of_hanging() -> None:
    async with CheckerPool(SETUP, workers=1) as pool:
        await (await pool.submit(chunks(3)[0]))
        os.kill(pool.pids[0], signal.SIGKILL)
        with pytest.raises(RuntimeError, match="worker process"):
            future = await pool.submit(chunks(3)[1])
            await asyncio.wait_for(future, 10)


async def test_closing_the_pool_ends_its_worker_processes() -> None:
    pool = CheckerPool(SETUP, workers=2)
    await (await pool.submit(chunks(3)[0]))
    pids = pool.pids
    await pool.close()

    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
