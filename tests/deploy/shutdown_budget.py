"""How long each engine process may take to stop gracefully, from its settings and code.

A pod's (or compose service's) grace period must cover it, or the kubelet's SIGKILL cuts
a graceful stop short: a worker killed before its start requests are recorded leaves
attempts for the reconciler to settle instead.
"""

from __future__ import annotations

from campaign_engine.config import Settings
from campaign_engine.dialer.worker import SHUTDOWN_GRACE_SECONDS
from campaign_engine.spawn import STOP_GRACE_SECONDS as CHILD_STOP_SECONDS
from campaign_engine.webhooks.background import STOP_GRACE_SECONDS as INBOX_STOP_SECONDS

# Closing the database pool and Redis, and the interpreter's own exit.
MARGIN_SECONDS = 10.0


def _server_processes(args: list[str]) -> int:
    if "--workers" in args:
        return int(args[args.index("--workers") + 1])
    workers = [arg.partition("=")[2] for arg in args if arg.startswith("--workers=")]
    return int(workers[0]) if workers else 1


def stop_seconds(settings: Settings, args: list[str], pre_stop_seconds: float = 0.0) -> float:
    """The longest graceful stop of the process ``campaign-engine ARGS``."""
    longest_request = settings.vocobase.longest_request_seconds
    command = args[0]
    if command == "worker":
        # Jobs waiting for room hand their contacts back at once; a start request already
        # sent is waited for (arq cancels what is left after SHUTDOWN_GRACE_SECONDS). Bounded
        # above by a job that waited its whole max_wait_seconds and then sent a request.
        in_flight = settings.dialer.max_wait_seconds + longest_request
        return max(SHUTDOWN_GRACE_SECONDS, in_flight) + MARGIN_SECONDS
    if command == "scheduler":
        # The tick in progress finishes: its longest step is one request to Vocobase or one
        # round of notification deliveries.
        step = max(longest_request, settings.notifications.timeout_seconds)
        return settings.scheduler.tick_seconds + step + MARGIN_SECONDS
    if command == "serve":
        # The preStop pause, requests being answered (a webhook is stored and answered in
        # milliseconds), then the inbox processor's own stop; `serve --workers N` forwards
        # SIGTERM to its children and gives them CHILD_STOP_SECONDS.
        own = INBOX_STOP_SECONDS if _server_processes(args) == 1 else CHILD_STOP_SECONDS
        return pre_stop_seconds + own + MARGIN_SECONDS
    if command == "db":
        # A migration runs in one transaction: stopped, it is rolled back and run again.
        return MARGIN_SECONDS
    raise ValueError(f"no stop budget for command {command!r}")
