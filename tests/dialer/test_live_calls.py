"""A call is known to have ended only when whole listings of every live status miss it."""

from __future__ import annotations

from campaign_engine.dialer.live_calls import (
    LIVE_STATUSES,
    StatusListing,
    ended_calls,
    listing_of,
    read_whole,
)
from campaign_engine.vocobase.schemas import CallList


def page(ids: list[str], total: int, offset: int = 0) -> CallList:
    calls = [{"call_id": one, "status": "ringing"} for one in ids]
    return CallList.model_validate({"calls": calls, "total": total, "limit": 100, "offset": offset})


def whole(status: str, *ids: str) -> StatusListing:
    return StatusListing(status, frozenset(ids), True)


def test_one_page_holding_the_total_is_whole() -> None:
    assert read_whole([page(["a", "b"], total=2)])
    assert read_whole([page([], total=0)])


def test_pages_whose_total_moved_or_whose_calls_repeat_are_not_whole() -> None:
    """A call leaving the status between pages shifts the offsets: a live one may be skipped."""
    assert not read_whole([page(["a"] * 100, total=150)])
    assert not read_whole([page([f"c{i}" for i in range(100)], 150), page(["x"] * 49, 149, 100)])
    shifted = [
        page([f"c{i}" for i in range(100)], 150),
        page([f"c{i}" for i in range(99, 148)], 150, 100),
    ]
    assert not read_whole(shifted)
    assert not read_whole([page([f"c{i}" for i in range(100)], total=150)])
    assert not read_whole([])


def test_pages_holding_every_call_once_with_a_steady_total_are_whole() -> None:
    first = page([f"c{i}" for i in range(100)], 150)
    assert read_whole([first, page([f"c{i}" for i in range(100, 150)], 150, 100)])


def test_our_call_missing_from_every_whole_live_listing_has_ended() -> None:
    listings = [whole("pending", "p"), whole("ringing", "r"), whole("in_progress", "live")]
    known = {1: "live", 2: "gone", 3: "r"}
    assert ended_calls(known, listings) == [2]


def test_nothing_is_inferred_when_any_live_status_was_not_read_whole() -> None:
    for cut in LIVE_STATUSES:
        listings = [StatusListing(status, frozenset(), status != cut) for status in LIVE_STATUSES]
        assert ended_calls({1: "gone"}, listings) == []
    assert ended_calls({1: "gone"}, [whole("pending"), whole("ringing")]) == []


def test_a_listing_reads_the_ids_of_all_its_pages() -> None:
    listing = listing_of("in_progress", [page(["a", "b"], total=2)])
    assert listing == StatusListing("in_progress", frozenset({"a", "b"}), True)
