"""A uvicorn server that runs as one task among others in a process that owns its signals.

uvicorn normally takes over SIGINT/SIGTERM; inside ``run``, the demo or a test, the host
process decides how to stop (gracefully, in order), so the server must leave them alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import uvicorn


class EmbeddedServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
