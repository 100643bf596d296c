"""What every API test starts from: the served app over the runtime's database (both
backends), and a token of each scope."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from campaign_engine import api as api_package
from campaign_engine.ops import tokens
from campaign_engine.runtime import Runtime


@dataclass(frozen=True)
class Tokens:
    read: str
    operate: str
    admin: str

    def header(self, scope: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {getattr(self, scope)}"}


@pytest.fixture
async def api_tokens(runtime: Runtime) -> Tokens:
    async with runtime.sessions() as session, session.begin():
        made = {
            scope: await tokens.create_token(session, name=f"{scope}-bot", scope=scope, actor="t")
            for scope in ("read", "operate", "admin")
        }
    return Tokens(**made)


def api_app(runtime: Runtime) -> Starlette:
    """The API alone (``server.create_app`` mounts the same routes beside the console)."""
    app = Starlette(routes=[api_package.mount()])
    app.state.runtime = runtime
    return app


@pytest.fixture
async def api(
    runtime: Runtime, api_tokens: Tokens, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app, with the admin token unless a request says otherwise (uploads
    kept in the test's own directory)."""
    runtime.settings.api.upload_dir = str(tmp_path / "uploads")
    transport = httpx.ASGITransport(app=api_app(runtime))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://engine/api/v1", headers=api_tokens.header()
    ) as client:
        yield client
