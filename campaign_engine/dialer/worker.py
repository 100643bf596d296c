"""The arq worker that runs dial jobs, with a graceful stop.

On SIGTERM/SIGINT the worker stops picking jobs, lets start requests already in flight
finish (their outcome must be recorded), and makes jobs still waiting for slots hand their
contacts back; what is left in Redis is picked up by the next worker.
"""

from __future__ import annotations

import signal

from arq.worker import Worker, func

from campaign_engine.dialer.dial import dial_contacts
from campaign_engine.dialer.scheduler import DIAL_JOB
from campaign_engine.runtime import Runtime

# A start request takes at most the client timeouts; leave room for recording its result.
SHUTDOWN_GRACE_SECONDS = 30


def build_worker(runtime: Runtime, *, burst: bool = False) -> Worker:
    settings = runtime.settings
    job_timeout = (
        settings.dialer.max_wait_seconds
        + settings.vocobase.timeout_seconds
        + settings.vocobase.connect_timeout_seconds
        + 60
    )
    return Worker(
        functions=[func(dial_contacts, name=DIAL_JOB, max_tries=3)],
        queue_name=runtime.keys.queue,
        redis_pool=runtime.redis,
        burst=burst,
        handle_signals=False,
        job_completion_wait=SHUTDOWN_GRACE_SECONDS,
        max_jobs=settings.dialer.max_jobs,
        job_timeout=job_timeout,
        keep_result=0,
        poll_delay=0.05,
        health_check_key=f"{runtime.keys.prefix}:worker-health",
        ctx={"runtime": runtime},
        log_results=False,
    )


def request_stop(runtime: Runtime, worker: Worker, signum: int = signal.SIGTERM) -> None:
    """Begin a graceful stop (what SIGTERM does)."""
    runtime.stopping.set()
    worker.handle_sig_wait_for_completion(signal.Signals(signum))
