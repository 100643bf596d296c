"""``campaign-engine results export`` against a real SQLite database and config file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from campaign_engine.cli import app
from campaign_engine.runtime import Runtime
from tests.conftest import engine_settings
from tests.results.test_export import EVIL, campaign_with_results


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith("CAMPAIGN_ENGINE_") or name.startswith("VOCOBASE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def config(tmp_path: Path, sqlite_url: str) -> Path:
    path = tmp_path / "engine.toml"
    path.write_text(f'[database]\nurl = "{sqlite_url}"\n', encoding="utf-8")
    return path


@pytest.fixture
def campaign_id(sqlite_url: str, redis_prefix: str) -> str:
    async def seed() -> str:
        runtime = await Runtime.open(engine_settings(sqlite_url, redis_prefix))
        try:
            found, _ = await campaign_with_results(runtime)
            return found
        finally:
            await runtime.close()

    return asyncio.run(seed())


def results(config: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["--config", str(config), "results", *args])
    return result.exit_code, result.stdout, result.stderr


def test_csv_export_to_standard_output_is_only_the_csv(config: Path, campaign_id: str) -> None:
    code, out, err = results(config, "export", campaign_id)

    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["phone"] for row in rows] == ["+919876543210", "+919876543211", "+919876543212"]
    assert rows[2]["var.name"] == "'" + EVIL


def test_jsonl_attempts_export_to_a_file_reports_the_row_count_on_stderr(
    config: Path, campaign_id: str, tmp_path: Path
) -> None:
    target = tmp_path / "attempts.jsonl"

    code, out, err = results(
        config, "export", campaign_id, "--format", "jsonl", "--attempts", "--out", str(target)
    )

    assert (code, out) == (0, "")
    assert err.strip() == f"exported 4 rows to {target}"
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["attempt_number"] for line in lines] == [1, 1, 2, 1]
    assert not (tmp_path / "attempts.jsonl.partial").exists()


def test_an_unknown_format_is_refused_in_one_line(config: Path, campaign_id: str) -> None:
    code, out, err = results(config, "export", campaign_id, "--format", "xlsx")
    assert (code, out) == (1, "")
    assert err == "error: unknown format 'xlsx'; choose csv or jsonl\n"


def test_an_unknown_campaign_fails_in_one_line_and_leaves_no_file(
    config: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.csv"
    code, out, err = results(config, "export", "no-such-campaign", "--out", str(target))

    assert (code, out) == (1, "")
    assert err == "error: campaign no-such-campaign not found\n"
    assert not target.exists()
    assert not (tmp_path / "out.csv.partial").exists()
