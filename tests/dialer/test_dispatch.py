"""Sharing the room of the limits between campaigns: plain numbers, no I/O."""

from __future__ import annotations

from campaign_engine.config import LimitSettings
from campaign_engine.dialer.dispatch import (
    QUEUE,
    Claimant,
    fits,
    less_used,
    queue_bound,
    rate_name,
    rate_room,
    room_names,
    share_out,
    slot_name,
    slot_room,
)
from campaign_engine.limits.plan import VOCOBASE_ACTIVE, VOCOBASE_CALLS, provider_key, start_plan

KEY = rate_name(VOCOBASE_CALLS)
PARTNER = slot_name(VOCOBASE_ACTIVE)
TWILIO = rate_name(provider_key("twilio"))
EXOTEL = rate_name(provider_key("exotel"))


def claimant(name: str, *limits: str, wanted: int = 1000, holding: int = 0, weight: int = 1):
    return Claimant(name, weight, wanted, holding, (KEY, PARTNER, *limits))


def test_campaigns_sharing_every_limit_get_equal_shares_by_default() -> None:
    given = share_out({KEY: 10, PARTNER: 50}, [claimant("a"), claimant("b")])
    assert given == {"a": 5, "b": 5}


def test_priorities_weight_the_shares() -> None:
    given = share_out({KEY: 12}, [claimant("a", weight=3), claimant("b", weight=1)])
    assert given == {"a": 9, "b": 3}


def test_what_a_campaign_already_holds_counts_toward_its_share() -> None:
    # a holds 6 calls and queued contacts already: the 4 free go to b first.
    given = share_out({KEY: 4}, [claimant("a", holding=6), claimant("b")])
    assert given == {"a": 0, "b": 4}


def test_a_campaign_whose_own_limit_is_full_leaves_the_shared_room_to_others() -> None:
    # a's provider has no room: b, on another provider, takes all of the key's room.
    given = share_out(
        {KEY: 10, TWILIO: 0, EXOTEL: 10}, [claimant("a", TWILIO), claimant("b", EXOTEL)]
    )
    assert given == {"a": 0, "b": 10}


def test_a_backlog_on_a_slow_provider_takes_only_what_that_provider_allows() -> None:
    given = share_out(
        {KEY: 100, TWILIO: 3, EXOTEL: 7},
        [claimant("big", TWILIO, wanted=10_000), claimant("small", EXOTEL, wanted=50)],
    )
    assert given == {"big": 3, "small": 7}


def test_no_campaign_gets_more_than_it_wants_and_the_rest_goes_to_others() -> None:
    given = share_out({KEY: 10}, [claimant("a", wanted=2), claimant("b")])
    assert given == {"a": 2, "b": 8}


def test_nothing_is_given_without_room_or_wants() -> None:
    assert share_out({KEY: 0}, [claimant("a")]) == {"a": 0}
    assert share_out({KEY: 5}, [claimant("a", wanted=0)]) == {"a": 0}


def test_a_rates_room_is_what_it_lets_through_within_the_horizon() -> None:
    # Unused: its burst now, plus one per interval within the horizon.
    assert rate_room(None, 10_000, 1000, 1, 2000) == 3
    # Its next token is 1.5 s away: only the one at 1.5 s fits in 2 s.
    assert rate_room(11_500, 10_000, 1000, 1, 2000) == 1
    # Taken far ahead (a burst of grants): no room at all, never negative.
    assert rate_room(20_000, 10_000, 1000, 1, 2000) == 0


def test_a_concurrency_limits_room_is_its_free_slots() -> None:
    assert slot_room(5, 3) == 2
    assert slot_room(5, 7) == 0


def test_the_queue_bound_is_a_multiple_of_the_concurrency() -> None:
    assert queue_bound(4.0, 5) == 20
    assert queue_bound(0.1, 5) == 1


def test_every_limit_of_a_start_plan_is_a_room_and_so_is_the_queue() -> None:
    plan = start_plan(
        LimitSettings(),
        provider="twilio",
        campaign_id="c1",
        campaign_max_concurrent=2,
        campaign_calls_per_minute=30,
        vocobase_concurrency=5,
    )
    names = room_names(plan)
    assert set(names) == {
        KEY,
        TWILIO,
        rate_name("campaign:c1"),
        PARTNER,
        slot_name("campaign:c1"),
        QUEUE,
    }


def test_queued_contacts_use_up_the_room_of_their_limits() -> None:
    left = less_used({KEY: 5, TWILIO: 2}, [((KEY, TWILIO), 3)])
    assert left == {KEY: 2, TWILIO: 0}


def test_fits_takes_one_start_only_when_every_limit_has_room() -> None:
    room = {KEY: 1, TWILIO: 0}
    assert not fits(room, (KEY, TWILIO))
    assert room == {KEY: 1, TWILIO: 0}
    assert fits(room, (KEY,))
    assert room == {KEY: 0, TWILIO: 0}
