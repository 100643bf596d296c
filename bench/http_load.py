"""A lightweight closed-loop HTTP/1.1 load generator for loopback benchmarks.

Keep-alive connections written by hand on asyncio streams: on a two-core machine shared
with the server under test, a full HTTP client would take the CPU the server needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable


class Connection:
    """One keep-alive HTTP/1.1 connection: just enough protocol for this benchmark."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return status, await self.reader.readexactly(length)


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[Connection]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield Connection(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def closed_loop(
    port: int,
    path: str,
    requests: Iterable[tuple[bytes, Callable[[bytes], dict[str, str]]]],
    connections: int,
) -> tuple[float, list[float], dict[int, int]]:
    """Send every ``(body, headers_for)`` over ``connections`` connections, each sending
    its next request when the last is answered; (seconds, latencies, status counts)."""
    latencies: list[float] = []
    codes: dict[int, int] = {}
    queue = iter(requests)

    async def client() -> None:
        async with connection(port) as conn:
            for body, headers_for in queue:
                headers = headers_for(body)
                began = time.perf_counter()
                status, _ = await conn.request("POST", path, body, headers)
                latencies.append(time.perf_counter() - began)
                codes[status] = codes.get(status, 0) + 1

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return time.perf_counter() - began, latencies, codes


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]
