"""Running ``campaign-engine`` in-process as an operator types it, with a real config file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import Result
from typer.testing import CliRunner

from campaign_engine.cli import app
from tests.harness import AGENT_ID


def write_config(path: Path, database_url: str, **sections: dict[str, str]) -> Path:
    """A TOML config file on ``database_url``, with any further sections' keys."""
    tables = {"database": {"url": database_url}, **sections}
    path.write_text(
        "".join(
            f"[{name}]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in keys.items())
            for name, keys in tables.items()
        ),
        encoding="utf-8",
    )
    return path


class Cli:
    """``campaign-engine --config FILE [GROUP…] ARGS…``: ``Cli(config, "ops")("audit")``."""

    def __init__(self, config: Path, *group: str) -> None:
        self.config = config
        self.group = group

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(app, ["--config", str(self.config), *self.group, *args])

    def run(self, *args: str) -> tuple[int, str, str]:
        """(exit status, stdout, stderr)."""
        result = self(*args)
        return result.exit_code, result.stdout, result.stderr

    def ok(self, *args: str) -> str:
        """Standard output of a command that must succeed."""
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def create(self, region: str = "IN") -> str:
        """A new campaign's id (whatever this runner's group)."""
        return (
            Cli(self.config)
            .ok(
                "campaign",
                "create",
                "--name",
                "X",
                "--agent-id",
                AGENT_ID,
                "--default-region",
                region,
            )
            .strip()
        )


def one_line_error(result: Result, code: int = 1) -> str:
    """The error a refused command printed: one line on stderr, never a traceback."""
    assert result.exit_code == code, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output
    return result.stderr
