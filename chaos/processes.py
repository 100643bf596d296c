"""The engine's processes in the soak: real ``campaign_engine.cli`` children, each on its
host, that faults kill and the soak restarts, as an orchestrator (systemd, Kubernetes) would.

A process that exits without being killed by a fault (it crashed, or gave up when
PostgreSQL or Redis went away) is restarted too, after a pause, and counted: the report
shows how often each role fell over on its own.
"""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaign_engine.spawn import CLI
from chaos.hosts import Host, netns_command

CRASH_RESTART_SECONDS = 1.0


@dataclass
class EngineProcess:
    name: str  # worker-0, scheduler-1, server-0, ...
    role: str  # worker | scheduler | serve
    env: dict[str, str]
    log_dir: Path
    host: Host | None = None
    proc: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None  # monotonic; set while a fault holds it down
    starts: int = 0
    kills: dict[str, int] = field(default_factory=dict)
    unplanned_exits: list[int] = field(default_factory=list)

    def start(self) -> None:
        with (self.log_dir / f"{self.name}.log").open("ab") as log:
            log.write(f"\n--- start {self.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                netns_command(self.host, [*CLI, self.role]),
                env=self.env,
                stdout=log,
                stderr=log,
            )
        self.starts += 1
        self.restart_at = None

    def kill(self, signame: str, pause: float) -> None:
        """Send ``signame`` and hold the process down for ``pause`` seconds after it exits."""
        self.kills[signame] = self.kills.get(signame, 0) + 1
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(getattr(signal, signame))
        self.restart_at = time.monotonic() + pause

    def supervise(self) -> None:
        """Restart once the pause is over and the old process has exited; notice crashes."""
        if self.proc is None:
            return
        code = self.proc.poll()
        if code is None:
            return
        if self.restart_at is None:
            self.unplanned_exits.append(code)
            self.restart_at = time.monotonic() + CRASH_RESTART_SECONDS
        elif time.monotonic() >= self.restart_at:
            self.start()

    def stop(self, grace: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def report(self) -> dict[str, Any]:
        return {
            "host": self.host.name if self.host else "local",
            "starts": self.starts,
            "kills": dict(self.kills),
            "unplanned_exits": list(self.unplanned_exits),
        }
