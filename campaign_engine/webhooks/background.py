"""Apply accepted webhook events in the background of a running server, off the request.

The receiver answers as soon as the event is committed to the inbox and hands its id to
this processor; a few worker coroutines apply events from an in-memory queue. Nothing
depends on the queue surviving: an id that is dropped (queue full) or lost (the process
stops) leaves its event ``received`` in the inbox, and when the queue runs dry the
processor looks for such leftovers itself (the scheduler's sweep does too), so every
accepted event is applied — once, whichever server stored it and however many run, because
each batch claims its events first (see :mod:`~campaign_engine.webhooks.apply`).

Queued events are applied in batches, one transaction each, in a fixed number of
statements per batch (see :mod:`~campaign_engine.webhooks.apply`): the more are
queued, the cheaper each one. Answering Vocobase comes first, because a delivery it gives
up on is lost while an event in the inbox can wait: while deliveries arrive faster than
``BUSY_RATE`` per second, one worker at a time applies whatever is queued and then rests
for ``BUSY_REST`` times as long as the batch took, so applying takes at most about half
of the process's time and the receiver keeps the rest. Events still keep being
applied at hundreds per second during a burst (batches grow while the worker rests), and
at full speed with every worker once it is over.

Processing is not attached to the HTTP response on purpose: with keep-alive connections a
response's background task holds the connection, so the next delivery would wait for the
previous one's outcome to be applied.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from datetime import timedelta

from sqlalchemy import select

from campaign_engine.db.models import WebhookEvent, utcnow
from campaign_engine.runtime import Runtime
from campaign_engine.states import InboxStatus
from campaign_engine.webhooks.apply import process_events

log = logging.getLogger(__name__)

WORKERS = 2
# Events applied in one transaction at most (whatever is queued, up to this).
BATCH = 200
QUEUE_LIMIT = 50_000
# Leftovers are events still ``received`` this long after they arrived.
LEFTOVER_AFTER_SECONDS = 10.0
IDLE_SECONDS = 2.0
STOP_GRACE_SECONDS = 5.0
# Busy: deliveries arrive faster than BUSY_RATE per second (over the last RATE_WINDOW).
BUSY_RATE = 250
RATE_WINDOW = 0.5
# While busy, a worker rests this many times as long as its batch took (at most about
# half the time applying).
BUSY_REST = 1.0
_CHECK_SECONDS = 0.05


class InboxProcessor:
    def __init__(
        self, runtime: Runtime, *, workers: int = WORKERS, queue_limit: int = QUEUE_LIMIT
    ) -> None:
        self.runtime = runtime
        self.queue: asyncio.Queue[int] = asyncio.Queue(maxsize=queue_limit)
        self.workers = workers
        self.dropped = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()
        # Arrival times of the latest deliveries: a full deque within the window is busy.
        self._arrivals: collections.deque[float] = collections.deque(
            maxlen=int(BUSY_RATE * RATE_WINDOW)
        )
        self._busy_turn = asyncio.Lock()

    def submit(self, event_id: int) -> None:
        """Queue a just-accepted event; when the queue is full it is left for the catch-up."""
        self._arrivals.append(asyncio.get_running_loop().time())
        self._enqueue(event_id)

    def _enqueue(self, event_id: int) -> None:
        try:
            self.queue.put_nowait(event_id)
        except asyncio.QueueFull:
            self.dropped += 1

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._work(), name=f"inbox-{index}")
            for index in range(self.workers)
        ]
        self._tasks.append(asyncio.create_task(self._catch_up(), name="inbox-catch-up"))

    async def stop(self) -> None:
        """Let events being applied finish (briefly); queued ones stay in the inbox."""
        self._stopping.set()
        _, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE_SECONDS)
        for task in pending:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _work(self) -> None:
        while not self._stopping.is_set():
            getter = asyncio.ensure_future(self.queue.get())
            stopper = asyncio.ensure_future(self._stopping.wait())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            if getter not in done:
                getter.cancel()
                return
            first = getter.result()
            if not self.busy():
                await self._apply(first)
                continue
            async with self._busy_turn:
                began = asyncio.get_running_loop().time()
                await self._apply(first)
                await self._rest(BUSY_REST * (asyncio.get_running_loop().time() - began))

    def busy(self) -> bool:
        """True while deliveries arrive faster than ``BUSY_RATE`` per second."""
        arrivals = self._arrivals
        if len(arrivals) < (arrivals.maxlen or 0):
            return False
        return arrivals[0] >= asyncio.get_running_loop().time() - RATE_WINDOW

    async def _rest(self, seconds: float) -> None:
        """Wait ``seconds``, or less once deliveries slow down or the processor stops."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        while self.busy() and not self._stopping.is_set() and loop.time() < until:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._stopping.wait(), timeout=min(_CHECK_SECONDS, until - loop.time())
                )

    async def _apply(self, first: int) -> None:
        batch = [first]
        while len(batch) < BATCH and not self.queue.empty():
            batch.append(self.queue.get_nowait())
        try:
            await process_events(self.runtime, sorted(set(batch)))
        except Exception:
            log.exception("applying webhook events failed; the sweep retries them")

    async def _catch_up(self) -> None:
        """When idle, queue events left ``received`` (dropped ids, or a previous run's)."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=IDLE_SECONDS)
            if self._stopping.is_set() or not self.queue.empty():
                continue
            try:
                for event_id in await self.leftovers():
                    self._enqueue(event_id)
            except Exception:
                log.exception("looking for unprocessed webhook events failed")

    async def leftovers(self, limit: int = 1000) -> list[int]:
        cutoff = utcnow() - timedelta(seconds=LEFTOVER_AFTER_SECONDS)
        async with self.runtime.sessions() as session:
            found = await session.scalars(
                select(WebhookEvent.id)
                .where(
                    WebhookEvent.status == InboxStatus.RECEIVED.value,
                    WebhookEvent.received_at <= cutoff,
                )
                .order_by(WebhookEvent.id)
                .limit(limit)
            )
            return list(found.all())
