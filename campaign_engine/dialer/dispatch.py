"""How many contacts each campaign may have queued: plain numbers in, plain numbers out.

The queue holds work that can run, not a copy of the backlog. Every limit a start takes (the
API key's rate, the partner's and the provider's concurrency and rate, the campaign's own)
has some *room*: the starts it can let through within the next few seconds. Contacts
already queued use that room up. What is left is shared out one start at a time, always to
the campaign with the least per unit of priority (weighted max-min fairness, also called
progressive filling): campaigns sharing a limit share it by their priorities, and a campaign
whose own limits still have room takes it whatever another campaign's backlog elsewhere.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from campaign_engine.limits.plan import LimitPlan

# The pseudo-limit every start passes: the queue's own bound (a multiple of concurrency).
QUEUE = "queue"


@dataclass(frozen=True)
class Claimant:
    """One campaign asking for starts.

    ``wanted``: its due contacts (as many as could be given). ``holding``: what it already
    has queued or in calls, which counts toward its share. ``limits``: the room names
    (:func:`room_names`) every one of its starts uses.
    """

    campaign_id: str
    weight: int
    wanted: int
    holding: int
    limits: tuple[str, ...]


def rate_name(name: str) -> str:
    return f"rate:{name}"


def slot_name(name: str) -> str:
    return f"slots:{name}"


def room_names(plan: LimitPlan) -> tuple[str, ...]:
    """The rooms a start of this plan uses (a rate and a slot set may share a name)."""
    return (
        *(rate_name(rate.name) for rate in plan.rates),
        *(slot_name(slot.name) for slot in plan.slots),
        QUEUE,
    )


def rate_room(tat_ms: int | None, now_ms: int, interval_ms: int, burst: int, ahead_ms: int) -> int:
    """Starts a GCRA rate lets through from now until ``ahead_ms`` from now (its stored
    theoretical arrival time ``tat_ms``; none: unused)."""
    tat = max(tat_ms if tat_ms is not None else now_ms, now_ms)
    return max(0, math.floor((now_ms + ahead_ms - tat) / interval_ms) + burst)


def slot_room(limit: int, in_use: int) -> int:
    """Calls a concurrency limit can start now: what it allows less the leases held."""
    return max(0, limit - in_use)


def queue_bound(factor: float, concurrency: int) -> int:
    """The most contacts the queue may hold: ``factor`` x the concurrency in force."""
    return max(1, math.floor(factor * concurrency))


def less_used(room: Mapping[str, int], used: Iterable[tuple[Iterable[str], int]]) -> dict[str, int]:
    """``room`` once every ``(limits, count)`` in ``used`` has taken its share of it."""
    left = dict(room)
    for names, count in used:
        for name in names:
            if name in left:
                left[name] = max(0, left[name] - count)
    return left


def share_out(room: Mapping[str, int], claimants: Sequence[Claimant]) -> dict[str, int]:
    """How many new starts each claimant may queue: the room shared by weighted max-min
    fairness. One start at a time goes to the claimant holding the least per unit of
    weight whose every limit still has room; one that is satisfied, or blocked by a full
    limit, drops out (its limits only fill up). A limit missing from ``room`` is unbounded.
    """
    left = dict(room)
    given = {claimant.campaign_id: 0 for claimant in claimants}
    heap = [
        (claimant.holding / claimant.weight, index)
        for index, claimant in enumerate(claimants)
        if claimant.wanted > 0 and claimant.weight > 0
    ]
    heapq.heapify(heap)
    while heap:
        _, index = heapq.heappop(heap)
        claimant = claimants[index]
        if any(left.get(name, 1) <= 0 for name in claimant.limits):
            continue
        for name in claimant.limits:
            if name in left:
                left[name] -= 1
        given[claimant.campaign_id] += 1
        if given[claimant.campaign_id] < claimant.wanted:
            held = claimant.holding + given[claimant.campaign_id]
            heapq.heappush(heap, (held / claimant.weight, index))
    return given


def fits(room: dict[str, int], limits: Iterable[str]) -> bool:
    """Take one start from every one of ``limits`` when all have room (``room`` changes)."""
    names = list(limits)
    if any(room.get(name, 1) <= 0 for name in names):
        return False
    for name in names:
        if name in room:
            room[name] -= 1
    return True
