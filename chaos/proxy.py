"""A TCP proxy the soak puts between the engine and the simulator, to delay or cut traffic.

Both directions go through it: the engine's API requests (engine -> simulator) and the
simulator's webhooks (simulator -> the webhook servers, round-robin over them). A fault
either adds latency to every chunk for a while, or cuts: closes every open connection and
refuses new ones for a while (the peer sees a reset, as on a broken network).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence


def next_upstream(upstreams: Sequence[tuple[str, int]], turn: int) -> tuple[str, int]:
    """Round-robin: the upstream for the ``turn``-th connection."""
    if not upstreams:
        raise ValueError("a proxy needs at least one upstream address")
    return upstreams[turn % len(upstreams)]


class Proxy:
    def __init__(self, host: str, upstreams: Sequence[tuple[str, int]]) -> None:
        self.host = host
        self.upstreams = list(upstreams)
        self.port = 0
        self.delay_seconds = 0.0
        self._cut_until = 0.0
        self._turns = itertools.count()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self.connections = 0
        self.refused = 0
        # Client address -> when it last sent anything (monotonic): who is still talking.
        self.last_seen: dict[str, float] = {}

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._close_all()
            for handler in list(self._handlers):
                handler.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    def delay(self, seconds: float) -> None:
        """Latency added to every chunk, both ways, until set back to 0."""
        self.delay_seconds = seconds

    def cut(self, seconds: float) -> None:
        """Reset every open connection and refuse new ones for ``seconds``."""
        self._cut_until = time.monotonic() + seconds
        self._close_all()

    @property
    def cutting(self) -> bool:
        return time.monotonic() < self._cut_until

    def _close_all(self) -> None:
        for writer in list(self._writers):
            _abort(writer)
        self._writers.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = asyncio.current_task()
        if handler is not None:
            self._handlers.add(handler)
        try:
            await self._relay(reader, writer)
        except asyncio.CancelledError:
            _abort(writer)  # the proxy is stopping: drop the connection quietly
        finally:
            if handler is not None:
                self._handlers.discard(handler)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cutting:
            self.refused += 1
            _abort(writer)
            return
        host, port = next_upstream(self.upstreams, next(self._turns))
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            self.refused += 1
            _abort(writer)
            return
        self.connections += 1
        self._writers.update((writer, up_writer))
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else "?"
        try:
            await asyncio.gather(
                self._pipe(reader, up_writer, client), self._pipe(up_reader, writer)
            )
        finally:
            for end in (writer, up_writer):
                self._writers.discard(end)
                _abort(end)

    async def _pipe(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: str | None = None,
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while chunk := await reader.read(65536):
                if client is not None:
                    self.last_seen[client] = time.monotonic()
                if self.delay_seconds:
                    await asyncio.sleep(self.delay_seconds)
                if writer.is_closing():
                    return
                writer.write(chunk)
                await writer.drain()
        if not writer.is_closing():
            with contextlib.suppress(OSError):
                writer.write_eof()


def _abort(writer: asyncio.StreamWriter) -> None:
    transport = writer.transport
    if not transport.is_closing():
        transport.abort()
