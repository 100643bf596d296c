"""``python -m chaos [--short] [--hosts | --no-hosts] [--seed N]``: the chaos soak, one
JSON line per soak (like ``python -m bench``); exit status 1 if a check failed.

The full form (``make chaos``) runs minutes of faults on one host, and then the same again
with the engine's processes on separate network hosts; ``--short`` runs one soak of ~15 s
of faults (tests, CI), on separate hosts when run as root. ``--hosts`` needs root (network
namespaces); every form needs PostgreSQL's server binaries and redis-server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

from chaos import options as sizes
from chaos import soak


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos")
    parser.add_argument("--short", action="store_true", help="one soak, ~15 s of faults (CI)")
    parser.add_argument(
        "--hosts",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="place workers, a scheduler and a server on separate network hosts (default, "
        "as root: the short soak does; the full form runs one soak without, one with)",
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the fault schedule")
    args = parser.parse_args()
    root = os.geteuid() == 0
    if args.hosts is None and args.short:
        modes = [root]
    elif args.hosts is None:
        modes = [False, True] if root else [False]
    else:
        modes = [args.hosts]
    if True in modes and os.geteuid() != 0:
        parser.error("--hosts creates network namespaces and needs root")
    failed = False
    for hosts in modes:
        result = asyncio.run(_soak(sizes.options(args.short, hosts, args.seed)))
        failed |= not result["ok"]
        sys.stdout.write(json.dumps({"chaos": "soak", **result}, default=str) + "\n")
        sys.stdout.flush()
    return 1 if failed else 0


async def _soak(options: sizes.Options) -> dict[str, Any]:
    """One soak; a SIGTERM cancels it like Ctrl-C does, so that its processes, private
    servers and network namespaces are still taken down."""
    main = asyncio.current_task()
    if main is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    return await soak.run(options)


if __name__ == "__main__":
    sys.exit(main())
