"""Every Redis key the engine writes, in one place (as arq keeps its own in constants.py).

All keys start with the configured prefix, so engines and test runs can share a server.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RedisKeys:
    prefix: str

    @property
    def queue(self) -> str:
        """The arq queue the dial jobs go through."""
        return f"{self.prefix}:queue"

    @property
    def cooldown(self) -> str:
        """Set (with an expiry) after a 429: the whole fleet waits until it is gone."""
        return f"{self.prefix}:limit:cooldown"

    @property
    def learned_concurrency(self) -> str:
        """Vocobase's partner concurrency as last read from GET /calls/concurrency."""
        return f"{self.prefix}:limit:learned:concurrency"

    @property
    def partner_reading(self) -> str:
        """The last GET /calls/concurrency answer ("active limit"), kept a few seconds."""
        return f"{self.prefix}:limit:partner:reading"

    @property
    def lowered_concurrency(self) -> str:
        """The partner concurrency lowered after concurrency 429s (expires when they stop)."""
        return f"{self.prefix}:limit:lowered:concurrency"

    @property
    def lowered_rate(self) -> str:
        """The share of the configured request rate in force after rate 429s (expires too)."""
        return f"{self.prefix}:limit:lowered:rate"

    @property
    def urgent_pending(self) -> str:
        """Set (with an expiry) while "call now" jobs may wait: other jobs yield to them."""
        return f"{self.prefix}:dispatch:urgent"

    @property
    def slots_freed(self) -> str:
        """A one-element list pushed whenever leases are released: the dispatcher blocks on
        it between rounds, so a freed slot is refilled at once rather than at the next round."""
        return f"{self.prefix}:limit:slots-freed"

    @property
    def scheduler_lease(self) -> str:
        """The leading scheduler's lease (its holder id, with an expiry it renews)."""
        return f"{self.prefix}:scheduler:leader"

    def rate(self, name: str) -> str:
        """A GCRA rate limiter's theoretical arrival time."""
        return f"{self.prefix}:limit:rate:{name}"

    def slots(self, name: str) -> str:
        """A sorted set of concurrency leases, scored by their expiry (ms, Redis clock)."""
        return f"{self.prefix}:limit:slots:{name}"

    def counter(self, name: str) -> str:
        return f"{self.prefix}:stats:{name}"

    def dial_job_id(self, contact_id: int, attempt_number: int) -> str:
        """The lead of a dial job's id: its first contact's attempt (the scheduler adds the
        moment it enqueues, so withdrawing a contact finds every job it leads)."""
        return f"{self.prefix}:dial:{contact_id}:{attempt_number}"
