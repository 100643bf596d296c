"""Every operation of the served OpenAPI document, driven by schemathesis with a valid
admin token: no answer is a 5xx, and every answer matches the schema the document gives
for it (JSON bodies and problem details alike). Bounded: a few examples per operation."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)

from campaign_engine.ops import tokens
from campaign_engine.runtime import Runtime
from tests.api.conftest import api_app
from tests.conftest import engine_settings
from tests.ops import seed

EXAMPLES = 12


class _Served:
    """The API on a real port, in a thread with its own event loop and runtime."""

    def __init__(self, database_url: str, redis_prefix: str, upload_dir: Path) -> None:
        self.settings = engine_settings(
            database_url, redis_prefix, api={"upload_dir": str(upload_dir)}
        )
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.token = ""
        self.ready = threading.Event()
        self.server: uvicorn.Server | None = None
        self.thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True)

    async def _serve(self) -> None:
        runtime = await Runtime.open(self.settings)
        try:
            async with runtime.sessions() as session, session.begin():
                self.token = await tokens.create_token(
                    session, name="schemathesis", scope="admin", actor="test"
                )
                await seed.campaign(session)
            config = uvicorn.Config(
                api_app(runtime), host="127.0.0.1", port=self.port, log_level="warning"
            )
            self.server = uvicorn.Server(config)
            serving = asyncio.create_task(self.server.serve())
            while not self.server.started:  # noqa: ASYNC110 (uvicorn has no "started" event)
                await asyncio.sleep(0.01)
            self.ready.set()
            await serving
        finally:
            await runtime.close()

    def __enter__(self) -> _Served:
        self.thread.start()
        assert self.ready.wait(30), "the API server did not start"
        return self

    def __exit__(self, *_: object) -> None:
        assert self.server is not None
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def served(database_url: str, redis_prefix: str, tmp_path: Path) -> Iterator[_Served]:
    with _Served(database_url, redis_prefix, tmp_path) as running:
        yield running


@pytest.mark.slow
def test_every_operation_answers_within_its_schema_and_never_with_a_5xx(served: _Served) -> None:
    base = f"http://127.0.0.1:{served.port}/api/v1"
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
    headers = {"Authorization": f"Bearer {served.token}"}
    checks = [not_a_server_error, response_schema_conformance, content_type_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    tried: list[str] = []

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=base, headers=headers, timeout=30)
            case.validate_response(response, checks=checks)

        check()
        tried.append(operation.label)

    assert len(tried) == len(operations) >= 30
