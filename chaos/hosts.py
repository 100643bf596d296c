"""Several hosts on one machine: network namespaces joined by a bridge, for the soak.

Each "host" is a network namespace with one veth pair: its end inside holds the host's
address on a private /24, the other end is a port of a bridge in the machine's own
namespace, whose address (``.1``) is where PostgreSQL, Redis, the simulator and the proxies
listen. Engine processes reach them by that address, never 127.0.0.1 (a namespace's
loopback is its own). Taking a host's bridge port down cuts it off, as a pulled cable
would; bringing it up lets it rejoin with nothing else touched.

Names carry this process's id, so two soaks on one machine do not collide, and leftovers
of a soak that died without cleaning up are recognised (their process is gone) and removed.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

PREFIX = "cec"
_LEFTOVER = re.compile(rf"^{PREFIX}(\d+)-")


@dataclass(frozen=True)
class Host:
    name: str
    netns: str
    port: str  # the veth end on the bridge, in the machine's namespace
    inside: str  # the veth end inside the namespace
    address: str


@dataclass(frozen=True)
class Network:
    bridge: str
    gateway: str  # the bridge's address: where the shared services listen
    hosts: tuple[Host, ...]

    def host(self, name: str) -> Host:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(f"no host {name!r}; hosts: {[h.name for h in self.hosts]}")


def plan_network(owner: int, names: Sequence[str]) -> Network:
    """Interface names, namespaces and addresses for ``names``, owned by process ``owner``.

    Linux interface names are at most 15 characters; a host name is at most 3."""
    if len(names) > 250:
        raise ValueError(f"at most 250 hosts fit a /24, got {len(names)}")
    for name in names:
        if not re.fullmatch(r"[a-z][a-z0-9]{0,2}", name):
            raise ValueError(f"host name {name!r} must be 1-3 lowercase letters/digits")
    tag = f"{PREFIX}{owner}"
    if len(tag) + 4 > 15:
        raise ValueError(f"process id {owner} is too long for interface names")
    subnet = f"10.213.{owner % 250 + 1}"
    hosts = tuple(
        Host(
            name=name,
            netns=f"{tag}-{name}",
            port=f"{tag}{name}",
            inside=f"{tag}{name}n",
            address=f"{subnet}.{index + 10}",
        )
        for index, name in enumerate(names)
    )
    return Network(bridge=f"{tag}br", gateway=f"{subnet}.1", hosts=hosts)


def netns_command(host: Host | None, command: Sequence[str]) -> list[str]:
    """``command`` run inside ``host``'s namespace (as is, for the machine's own)."""
    if host is None:
        return list(command)
    return ["ip", "netns", "exec", host.netns, *command]


def _ip(*args: str, check: bool = True) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {done.stderr.strip()}")


def create(network: Network) -> None:
    """Bridge, namespaces and veth pairs, up and addressed. On failure, what was made
    is removed again before the error propagates."""
    try:
        _ip("link", "add", network.bridge, "type", "bridge")
        _ip("addr", "add", f"{network.gateway}/24", "dev", network.bridge)
        _ip("link", "set", network.bridge, "up")
        for host in network.hosts:
            _ip("netns", "add", host.netns)
            _ip("link", "add", host.port, "type", "veth", "peer", "name", host.inside)
            _ip("link", "set", host.inside, "netns", host.netns)
            _ip("-n", host.netns, "addr", "add", f"{host.address}/24", "dev", host.inside)
            _ip("-n", host.netns, "link", "set", host.inside, "up")
            _ip("-n", host.netns, "link", "set", "lo", "up")
            _ip("link", "set", host.port, "master", network.bridge)
            _ip("link", "set", host.port, "up")
    except Exception:
        remove(network)
        raise


def set_link(host: Host, up: bool) -> None:
    _ip("link", "set", host.port, "up" if up else "down")


def remove(network: Network) -> None:
    """Everything :func:`create` makes; what is already gone is skipped."""
    for host in network.hosts:
        _ip("netns", "del", host.netns, check=False)
        _ip("link", "del", host.port, check=False)
    _ip("link", "del", network.bridge, check=False)


def leftover_owners(netns_names: Sequence[str], alive: set[int]) -> set[int]:
    """Owners of soak namespaces whose process is no longer running."""
    owners = set()
    for name in netns_names:
        match = _LEFTOVER.match(name)
        if match and int(match.group(1)) not in alive:
            owners.add(int(match.group(1)))
    return owners


def remove_leftovers() -> None:
    """Remove the namespaces, veths and bridges of soaks that died without cleaning up."""
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False)
    names = [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]
    alive = {int(pid) for pid in os.listdir("/proc") if pid.isdigit()}
    for owner in leftover_owners(names, alive):
        for name in names:
            if name.startswith(f"{PREFIX}{owner}-"):
                _ip("netns", "del", name, check=False)
                _ip("link", "del", f"{PREFIX}{owner}{name.split('-', 1)[1]}", check=False)
        _ip("link", "del", f"{PREFIX}{owner}br", check=False)
