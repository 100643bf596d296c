"""``python -m bench [--smoke] [NAME ...]``: run the benchmarks, print JSON lines.

``--smoke`` runs small versions (CI); without it, the full sizes the issues set targets for.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from bench import (
    api_upload,
    call_now,
    campaign_run,
    engine_overhead,
    estimate_error,
    fairness,
    ingest,
    limit_fidelity,
    makespan,
    metrics_scrape,
    outcome_fidelity,
    scheduler_tick,
    slot_refill,
    two_weeks,
    webhooks,
)

BENCHMARKS: dict[str, Callable[[bool], Awaitable[dict[str, Any]]]] = {
    "campaign_run": campaign_run.run,
    "ingest": ingest.run,
    "limit_fidelity": limit_fidelity.run,
    "engine_overhead": engine_overhead.run,
    "scheduler_tick": scheduler_tick.run,
    "webhooks": webhooks.run,
    "outcome_fidelity": outcome_fidelity.run,
    "makespan_efficiency": makespan.run,
    "slot_refill": slot_refill.run,
    "two_weeks": two_weeks.run,
    "estimate_error": estimate_error.run,
    "fairness": fairness.run,
    "call_now": call_now.run,
    "metrics_scrape": metrics_scrape.run,
    "api_upload": api_upload.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--smoke", action="store_true", help="small sizes, for CI")
    parser.add_argument("names", nargs="*", help=f"which to run: {', '.join(BENCHMARKS)}")
    args = parser.parse_args()
    unknown = [name for name in args.names if name not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    failed = False
    for name in args.names or list(BENCHMARKS):
        result = asyncio.run(BENCHMARKS[name](args.smoke))
        failed |= not result.get("ok", True)
        sys.stdout.write(json.dumps({"benchmark": name, **result}) + "\n")
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
