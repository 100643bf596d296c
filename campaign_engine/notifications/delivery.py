"""Send due outbox rows to the operator's URL, signed, from a loop beside the scheduler.

Each round claims a batch (see :mod:`outbox`), sends it without holding a transaction
open, then records every try in one short transaction. Rows of one contact go out one
after another in id order (an attempt's notification before the contact's final one);
different contacts go out concurrently. Any answer but 2xx, a timeout or a refused
connection is a failed try, retried with backoff until the row goes dead.

The body is signed like Vocobase's webhooks (``X-Webhook-Timestamp`` and
``X-Webhook-Signature: sha256=HMAC(secret, "{timestamp}.{body}")``), so an operator verifies
both the same way; ``id`` in the body (and ``X-Notification-Id``) is stable across retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from campaign_engine.config import NotificationSettings
from campaign_engine.db.models import utcnow
from campaign_engine.notifications import outbox
from campaign_engine.notifications.backoff import RetrySchedule
from campaign_engine.notifications.payload import envelope, iso
from campaign_engine.states import OutboxStatus
from campaign_engine.vocobase.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign

log = logging.getLogger(__name__)

ID_HEADER = "X-Notification-Id"
USER_AGENT = "campaign-engine-notifications"
# Time a claimed row stays ours beyond the request timeouts of its contact's rows.
LEASE_MARGIN_SECONDS = 30.0


@dataclass
class RoundStats:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    dead: int = 0


@dataclass(frozen=True)
class Try:
    claimed: outbox.Claimed
    error: str | None  # None: delivered


def body_of(claimed: outbox.Claimed) -> bytes:
    data = envelope(claimed.id, claimed.kind, claimed.created_at, claimed.payload)
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signed_headers(secret: str, body: bytes, notification_id: int, now: datetime) -> dict[str, str]:
    timestamp = iso(now) or ""
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        ID_HEADER: str(notification_id),
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def describe_failure(response: httpx.Response | None, exc: Exception | None) -> str:
    if response is not None:
        excerpt = response.text[:200].strip() if response.content else ""
        return f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else "")
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class Notifier:
    """Delivers the outbox; one per process that runs the scheduler."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: NotificationSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.schedule = RetrySchedule(
            settings.max_tries, settings.backoff_seconds, settings.max_backoff_seconds
        )
        self.clock = clock
        self.client = httpx.AsyncClient(
            transport=transport,
            timeout=settings.timeout_seconds,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=settings.batch_size),
        )
        self._stopping = asyncio.Event()

    async def aclose(self) -> None:
        await self.client.aclose()

    def stop(self) -> None:
        self._stopping.set()

    async def run(self, interval: float) -> None:
        """Deliver until :meth:`stop`; a full batch is followed at once by the next one."""
        while not self._stopping.is_set():
            try:
                stats = await self.deliver_due()
            except Exception:
                log.exception("notification round failed; trying again next round")
                stats = RoundStats()
            if stats.claimed >= self.settings.batch_size:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=interval)

    async def deliver_due(self) -> RoundStats:
        """One round: claim, send, record."""
        stats = RoundStats()
        lease = self.settings.timeout_seconds * 2 + LEASE_MARGIN_SECONDS
        async with self.sessions() as session, session.begin():
            claimed = await outbox.claim_due(
                session, now=self.clock(), limit=self.settings.batch_size, lease_seconds=lease
            )
        stats.claimed = len(claimed)
        if not claimed:
            return stats
        by_contact: dict[int, list[outbox.Claimed]] = {}
        for item in claimed:
            by_contact.setdefault(item.contact_id, []).append(item)
        groups = await asyncio.gather(*(self._send_in_order(g) for g in by_contact.values()))
        tries = [one for group in groups for one in group]
        now = self.clock()
        async with self.sessions() as session, session.begin():
            for one in tries:
                if one.error is None:
                    stats.delivered += int(
                        await outbox.mark_delivered(session, one.claimed, now=now)
                    )
                    continue
                status = await outbox.mark_failed(
                    session, one.claimed, error=one.error, now=now, schedule=self.schedule
                )
                stats.failed += 1
                if status == OutboxStatus.DEAD:
                    stats.dead += 1
                    log.warning(
                        "notification %s is dead after %s tries: %s",
                        one.claimed.id,
                        one.claimed.tries,
                        one.error,
                    )
        return stats

    async def _send_in_order(self, group: list[outbox.Claimed]) -> list[Try]:
        return [Try(item, await self._send(item)) for item in group]

    async def _send(self, claimed: outbox.Claimed) -> str | None:
        """One POST; None when the endpoint answered 2xx, else why not."""
        body = body_of(claimed)
        secret = self.settings.secret.get_secret_value()
        headers = signed_headers(secret, body, claimed.id, self.clock())
        try:
            response = await self.client.post(self.settings.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return describe_failure(None, exc)
        if 200 <= response.status_code < 300:
            return None
        return describe_failure(response, None)
