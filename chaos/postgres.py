"""A private PostgreSQL cluster in a temporary directory, for the chaos soak.

The soak restarts PostgreSQL under the engine's feet; doing that to the machine's shared
server would break every other test and helper using it, so the soak builds its own cluster
(initdb) on a free port and stops, restarts and deletes only that one. PostgreSQL refuses
to run as root: as root, the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

SERVER_USER = "postgres"
MAX_CONNECTIONS = 400  # every engine process pools up to 30 connections


def binaries_dir() -> Path:
    """The newest ``/usr/lib/postgresql/*/bin`` with initdb and pg_ctl in it."""
    found = sorted(
        (Path(path).parent for path in glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
    )
    if not found:
        on_path = shutil.which("pg_ctl")
        if on_path is None:
            raise RuntimeError(
                "no PostgreSQL server binaries: expected /usr/lib/postgresql/*/bin/pg_ctl "
                "or pg_ctl on PATH (install the postgresql package)"
            )
        return Path(on_path).parent
    return found[-1]


def _as_server_user() -> list[str]:
    """The command prefix that runs PostgreSQL's tools as a non-root user."""
    if os.geteuid() != 0:
        return []
    return ["runuser", "-u", SERVER_USER, "--"]


class PrivatePostgres:
    """One cluster: ``start``, ``stop``, ``restart``, ``remove``; ``url`` for the engine."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.bin = binaries_dir()
        self.root = Path(tempfile.mkdtemp(prefix="ce-chaos-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        if os.geteuid() == 0:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.root, user.pw_uid, user.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@{self.host}:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [*_as_server_user(), *args]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({done.returncode}): {done.stderr or done.stdout}"
            )

    def init(self) -> None:
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )
        # Engine processes on other (namespace) hosts connect from the private subnet.
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host all all 0.0.0.0/0 trust\n")

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses={self.host} "
            f"-c unix_socket_directories={self.root} -c max_connections={MAX_CONNECTIONS} "
            # The machine never crashes under the soak, only PostgreSQL does: fsync buys
            # nothing. Commits stay synchronous (the default), or a crash of the server
            # would lose transactions the engine was told were committed.
            "-c fsync=off"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.log),
            "-w",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends sessions and checkpoints; ``immediate`` is a crash, recovered at
        the next start."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        command = [*_as_server_user(), str(self.bin / "pg_ctl"), "-D", str(self.data), "status"]
        return subprocess.run(command, capture_output=True, check=False).returncode == 0

    def remove(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
