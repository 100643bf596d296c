"""A console under test: the real app on a real database and Redis, an HTTP client on it,
and named tokens to log in with."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from campaign_engine.ops.tokens import Scope, create_token
from campaign_engine.runtime import Runtime
from campaign_engine.server import create_app
from tests.conftest import engine_settings

CONFIG_TOKEN = "ops-t0ken"


@asynccontextmanager
async def console(database_url: str, redis_prefix: str, **ops: Any) -> AsyncIterator[Runtime]:
    settings = engine_settings(database_url, redis_prefix, ops={"token": CONFIG_TOKEN, **ops})
    runtime = await Runtime.open(settings)
    try:
        yield runtime
    finally:
        await runtime.close()


def client(runtime: Runtime, *, address: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(runtime), client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://console")


async def named_token(runtime: Runtime, name: str, scope: Scope) -> str:
    async with runtime.sessions() as session, session.begin():
        return await create_token(session, name=name, scope=scope, actor="test")


@asynccontextmanager
async def logged_in(runtime: Runtime, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client(runtime) as browser:
        response = await browser.post("/ops/login", data={"token": token})
        assert response.status_code == 303, response.text
        yield browser


def csrf(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found is not None
    return found.group(1)
