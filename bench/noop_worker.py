"""The anchor for the engine-overhead benchmark: arq itself running jobs that do nothing.

``python -m bench.noop_worker REDIS_URL QUEUE`` runs one arq worker process configured like
the engine's dial workers (same max_jobs, poll delay, no results kept).
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import Any

from arq.connections import create_pool
from arq.worker import Worker, func

from campaign_engine.runtime import redis_settings

NOOP_JOB = "noop"


async def noop(ctx: dict[str, Any], marks: str) -> None:
    """Nothing but leave a mark of when jobs ran (first, last, count), in one round trip."""
    now = repr(time.time())
    async with ctx["redis"].pipeline(transaction=False) as pipe:
        pipe.set(f"{marks}:first", now, nx=True)
        pipe.set(f"{marks}:last", now)
        pipe.incr(f"{marks}:done")
        await pipe.execute()


async def main(redis_url: str, queue: str) -> None:
    pool = await create_pool(redis_settings(redis_url))
    worker = Worker(
        functions=[func(noop, name=NOOP_JOB)],
        queue_name=queue,
        redis_pool=pool,
        handle_signals=False,
        max_jobs=50,
        keep_result=0,
        poll_delay=0.05,
        log_results=False,
    )
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, worker.handle_sig, signal.SIGTERM)
    try:
        await worker.async_run()
    except asyncio.CancelledError:
        pass
    finally:
        await pool.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
