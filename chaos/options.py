"""How big and how long a soak is: the full form (``make chaos``) and the short one (CI)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    short: bool
    hosts: bool
    seed: int
    contacts: int
    fault_seconds: float
    link_down_seconds: float
    speedup: float
    kill_every: float
    network_every: float
    complete_within: float


def options(short: bool, hosts: bool, seed: int) -> Options:
    if short:
        return Options(
            short,
            hosts,
            seed,
            contacts=16,
            fault_seconds=15.0,
            link_down_seconds=10.0,
            speedup=20.0,
            kill_every=4.0,
            network_every=5.0,
            complete_within=90.0,
        )
    return Options(
        short,
        hosts,
        seed,
        contacts=200,
        fault_seconds=180.0,
        link_down_seconds=30.0,
        speedup=20.0,
        kill_every=8.0,
        network_every=10.0,
        complete_within=600.0,
    )
