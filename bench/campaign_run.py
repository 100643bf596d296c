"""The demo's whole path at size: contacts completed per second, calls placed, limits kept.

Runs the demo campaign (simulator with short calls, concurrency 25, 1,200 requests/min)
quietly and reports what the engine achieved. Its ceiling is the simulator's concurrency
and call length, so it tracks end-to-end health rather than raw engine speed.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console

from campaign_engine.config import load_settings
from campaign_engine.demo import DemoOptions, run_demo


async def run(smoke: bool) -> dict[str, Any]:
    contacts = 100 if smoke else 1000
    with tempfile.TemporaryDirectory(prefix="ce-bench-") as workdir:
        options = DemoOptions(contacts=contacts, workdir=Path(workdir), timeout_seconds=600)
        result = await run_demo(load_settings(None), options, Console(file=io.StringIO()))
    calls = result.ledger.get("calls", [])
    return {
        "ok": result.completed,
        "contacts": contacts,
        "seconds": round(result.elapsed_seconds, 2),
        "contacts_per_s": round(contacts / result.elapsed_seconds, 2),
        "calls_placed": len(calls),
        "attempts_recorded": result.status["attempts"]["total"],
        "peak_concurrency": result.ledger.get("peak_concurrency"),
        "concurrency_limit": 25,
        "responses_429": result.ledger.get("responses_429"),
    }
