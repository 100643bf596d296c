"""The soak's fault schedule: what goes wrong, when, drawn at random from a seed.

Plain data and one pure function, so a schedule can be printed, replayed from its seed and
tested without starting anything. Times are seconds from the start of the faulty phase.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

KILL_SIGNALS = ("SIGKILL", "SIGTERM")
NETWORK_KINDS = ("delay", "cut")


@dataclass(frozen=True)
class Fault:
    at: float
    kind: str  # SIGKILL, SIGTERM, redis_flush_restart, postgres_restart, delay, cut, link_down
    target: str  # an engine process, "redis", "postgres", "api"/"webhooks" (proxies), a host
    seconds: float  # how long it lasts: the pause before a restart, the delay's or cut's length
    amount: float = 0.0  # a delay's added latency per chunk

    def to_dict(self) -> dict[str, Any]:
        return {
            key: round(value, 3) if isinstance(value, float) else value
            for key, value in asdict(self).items()
        }


@dataclass(frozen=True)
class Plan:
    """What to schedule: the faulty phase's length and how often each kind strikes."""

    duration: float
    processes: Sequence[str]
    kill_every: float  # mean seconds between process kills
    network_every: float  # mean seconds between network faults
    restart_pause: tuple[float, float] = (1.0, 4.0)
    network_seconds: tuple[float, float] = (1.0, 4.0)
    delay_amount: tuple[float, float] = (0.2, 1.5)
    link_hosts: Sequence[str] = ()  # worker hosts one of which loses its link
    link_down_seconds: float = 30.0
    # The engine processes on each host (spared from kills while their host is cut off).
    host_processes: Mapping[str, Sequence[str]] = field(default_factory=dict)


def _poisson_times(rng: random.Random, mean_gap: float, until: float) -> list[float]:
    times, moment = [], rng.expovariate(1 / mean_gap)
    while moment < until:
        times.append(moment)
        moment += rng.expovariate(1 / mean_gap)
    return times


def schedule(plan: Plan, seed: int) -> list[Fault]:
    """Every fault of one soak, sorted by time. Both signals are sent at least once; Redis
    and PostgreSQL restart once each, in separate parts of the phase (never together: each
    fault's effect stays readable); a host's link goes down once, early enough to come back
    before the phase ends, and its processes are not killed meanwhile."""
    if plan.duration <= 0:
        raise ValueError(f"the faulty phase must last > 0 s, got {plan.duration}")
    if not plan.processes:
        raise ValueError("a fault plan needs at least one engine process to kill")
    rng = random.Random(seed)
    link = None
    if plan.link_hosts:
        latest = max(0.0, plan.duration - plan.link_down_seconds)
        link = Fault(
            rng.uniform(0.2, 0.5) * latest,
            "link_down",
            rng.choice(list(plan.link_hosts)),
            plan.link_down_seconds,
        )
    kills = [
        _kill(rng, plan, moment, rng.choice(KILL_SIGNALS))
        for moment in _poisson_times(rng, plan.kill_every, plan.duration)
    ]
    faults = [f for f in kills if link is None or not _kills_cut_off(f, link, plan)]
    for signame in KILL_SIGNALS:
        for _ in range(20):  # a draw that would kill the cut-off host's process is drawn again
            if signame in {fault.kind for fault in faults}:
                break
            kill = _kill(rng, plan, rng.uniform(0.1, 0.9) * plan.duration, signame)
            if link is None or not _kills_cut_off(kill, link, plan):
                faults.append(kill)
    if link is not None:
        faults.append(link)
    for moment in _poisson_times(rng, plan.network_every, plan.duration):
        kind = rng.choice(NETWORK_KINDS)
        faults.append(
            Fault(
                at=moment,
                kind=kind,
                target=rng.choice(("api", "webhooks")),
                seconds=min(rng.uniform(*plan.network_seconds), plan.duration - moment),
                amount=rng.uniform(*plan.delay_amount) if kind == "delay" else 0.0,
            )
        )
    faults.append(
        Fault(
            rng.uniform(0.15, 0.35) * plan.duration,
            "redis_flush_restart",
            "redis",
            rng.uniform(*plan.restart_pause),
        )
    )
    faults.append(
        Fault(
            rng.uniform(0.55, 0.75) * plan.duration,
            "postgres_restart",
            "postgres",
            rng.uniform(*plan.restart_pause),
        )
    )
    return sorted(faults, key=lambda fault: fault.at)


def _kill(rng: random.Random, plan: Plan, moment: float, signame: str) -> Fault:
    return Fault(
        at=moment,
        kind=signame,
        target=rng.choice(list(plan.processes)),
        seconds=rng.uniform(*plan.restart_pause),
    )


def _kills_cut_off(fault: Fault, link: Fault, plan: Plan) -> bool:
    """Whether ``fault`` kills a process of the cut-off host while it is cut off: spared,
    so that the host is seen to rejoin by itself, not by a restart."""
    return (
        fault.kind in KILL_SIGNALS
        and fault.target in plan.host_processes.get(link.target, ())
        and link.at - plan.restart_pause[1] <= fault.at <= link.at + link.seconds
    )


def counts(faults: Sequence[Fault]) -> dict[str, int]:
    """How many faults of each kind a schedule holds (for the report)."""
    tally: dict[str, int] = {}
    for fault in faults:
        tally[fault.kind] = tally.get(fault.kind, 0) + 1
    return dict(sorted(tally.items()))
