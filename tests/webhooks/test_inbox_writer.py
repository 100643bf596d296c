"""Concurrent deliveries share one upsert: each is stored once, duplicates are counted,
nobody is answered before the row is committed, and a failed write fails the whole group."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from campaign_engine.runtime import Runtime
from campaign_engine.states import InboxStatus
from campaign_engine.webhooks.inbox_writer import InboxWriter, _Waiting, merge, writer_for

from .conftest import event_body, inbox_rows


def delivery(session_id: str) -> dict[str, Any]:
    return {
        "session_id": session_id,
        "call_id": f"call-{session_id}",
        "event_type": "session.completed",
        "raw_body": event_body(session_id=session_id),
        "headers": {"content-type": "application/json"},
    }


async def test_merge_groups_deliveries_by_session_in_arrival_order() -> None:
    loop = asyncio.get_running_loop()
    items = [_Waiting({"session_id": sid}, loop.create_future()) for sid in "abaca"]

    groups = merge(items)

    assert list(groups) == ["a", "b", "c"]
    assert [len(group) for group in groups.values()] == [3, 1, 1]
    assert groups["a"] == [items[0], items[2], items[4]]


async def test_concurrent_distinct_deliveries_are_all_stored_once(runtime: Runtime) -> None:
    writer = writer_for(runtime.engine)
    results = await asyncio.gather(*(writer.store(**delivery(f"s-{i}")) for i in range(60)))

    assert all(not result.duplicate for result in results)
    rows = await inbox_rows(runtime)
    assert sorted(row.id for row in rows) == sorted(r.event_id for r in results)  # type: ignore[misc]
    assert {row.session_id for row in rows} == {f"s-{i}" for i in range(60)}
    assert {(row.status, row.duplicates) for row in rows} == {(InboxStatus.RECEIVED, 0)}


async def test_copies_of_one_delivery_in_flight_together_store_one_row_and_count_the_rest(
    runtime: Runtime,
) -> None:
    writer = writer_for(runtime.engine)
    copies = [delivery("same") for _ in range(5)] + [delivery("other")]
    results = await asyncio.gather(*(writer.store(**values) for values in copies))

    originals = [r for r in results[:5] if not r.duplicate]
    assert len(originals) == 1
    assert results[5].duplicate is False
    same = {row.session_id: row for row in await inbox_rows(runtime)}["same"]
    assert (same.id, same.duplicates) == (originals[0].event_id, 4)


async def test_a_redelivery_after_the_row_exists_is_counted_on_it(runtime: Runtime) -> None:
    writer = writer_for(runtime.engine)
    first = await writer.store(**delivery("again"))
    later = await asyncio.gather(*(writer.store(**delivery("again")) for _ in range(3)))

    assert first.duplicate is False
    assert all(result.duplicate for result in later)
    (row,) = await inbox_rows(runtime)
    assert row.duplicates == 3


async def test_one_writer_serves_each_engine(runtime: Runtime) -> None:
    assert writer_for(runtime.engine) is writer_for(runtime.engine)


async def test_a_failed_write_fails_every_delivery_of_the_group_and_the_next_ones_still_work(
    sqlite_url: str,
) -> None:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")  # no tables: every write fails
    writer = InboxWriter(engine)
    try:
        results = await asyncio.gather(
            *(writer.store(**delivery(f"f-{i}")) for i in range(3)), return_exceptions=True
        )
        assert all(isinstance(result, Exception) for result in results)
        with pytest.raises(Exception, match="webhook_events"):
            await writer.store(**delivery("f-again"))
    finally:
        await engine.dispose()
