"""``campaign-engine results export`` against a real SQLite database and config file."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from pathlib import Path

import pytest

from campaign_engine.runtime import Runtime
from tests.cli.support import Cli
from tests.conftest import engine_settings
from tests.results.test_export import EVIL, campaign_with_results


@pytest.fixture
def results(config: Path) -> Cli:
    """``campaign-engine results …``."""
    return Cli(config, "results")


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


def test_csv_export_to_standard_output_is_only_the_csv(results: Cli, campaign_id: str) -> None:
    code, out, err = results.run("export", campaign_id)

    assert (code, err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [row["phone"] for row in rows] == ["+919876543210", "+919876543211", "+919876543212"]
    assert rows[2]["var.name"] == "'" + EVIL


def test_jsonl_attempts_export_to_a_file_reports_the_row_count_on_stderr(
    results: Cli, campaign_id: str, tmp_path: Path
) -> None:
    target = tmp_path / "attempts.jsonl"

    code, out, err = results.run(
        "export", campaign_id, "--format", "jsonl", "--attempts", "--out", str(target)
    )

    assert (code, out) == (0, "")
    assert err.strip() == f"exported 4 rows to {target}"
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["attempt_number"] for line in lines] == [1, 1, 2, 1]
    assert not (tmp_path / "attempts.jsonl.partial").exists()


def test_an_unknown_format_is_refused_in_one_line(results: Cli, campaign_id: str) -> None:
    code, out, err = results.run("export", campaign_id, "--format", "xlsx")
    assert (code, out) == (1, "")
    assert err == "error: unknown format 'xlsx'; choose csv or jsonl\n"


def test_an_unknown_campaign_fails_in_one_line_and_leaves_no_file(
    results: Cli, tmp_path: Path
) -> None:
    target = tmp_path / "out.csv"
    code, out, err = results.run("export", "no-such-campaign", "--out", str(target))

    assert (code, out) == (1, "")
    assert err == "error: campaign no-such-campaign not found\n"
    assert not target.exists()
    assert not (tmp_path / "out.csv.partial").exists()
