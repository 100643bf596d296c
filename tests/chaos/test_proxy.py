import asyncio

import pytest

from chaos.proxy import Proxy, next_upstream


def test_connections_take_turns_over_the_upstreams() -> None:
    ups = [("a", 1), ("b", 2)]
    assert [next_upstream(ups, turn) for turn in range(3)] == [("a", 1), ("b", 2), ("a", 1)]
    with pytest.raises(ValueError, match="at least one upstream"):
        next_upstream([], 0)


async def _echo_server() -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
            await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", 0)


async def _round_trip(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"ping")
    await writer.drain()
    try:
        return await asyncio.wait_for(reader.read(1024), 5)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def test_the_proxy_relays_under_delay_and_refuses_while_cut() -> None:
    server = await _echo_server()
    proxy = Proxy("127.0.0.1", [("127.0.0.1", server.sockets[0].getsockname()[1])])
    await proxy.start()
    try:
        assert await _round_trip(proxy.port) == b"ping"
        assert "127.0.0.1" in proxy.last_seen
        proxy.delay(0.05)
        assert await _round_trip(proxy.port) == b"ping"
        proxy.delay(0.0)
        proxy.cut(30)
        assert await _round_trip(proxy.port) == b""
        assert proxy.refused == 1
        proxy.cut(0)
        assert await _round_trip(proxy.port) == b"ping"
    finally:
        await proxy.stop()
        server.close()
        await server.wait_closed()
