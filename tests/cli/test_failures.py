"""A database or Redis the command cannot use, or a report path it cannot write, is one clear
line naming the setting or file — never a driver's traceback (``cli/failures.py``)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import exc as sa_exc

from campaign_engine.cli import failures
from campaign_engine.config import Settings
from tests.cli.support import Cli, one_line_error, write_config
from tests.harness import free_port


def test_a_database_never_migrated_says_to_run_db_upgrade(tmp_path: Path) -> None:
    cli = Cli(write_config(tmp_path / "engine.toml", f"sqlite+aiosqlite:///{tmp_path}/new.db"))

    error = one_line_error(cli("campaign", "list"))

    assert "has no campaign-engine tables" in error
    assert "run `campaign-engine db upgrade` first" in error


def test_a_postgresql_server_that_does_not_answer_names_the_url_without_its_password(
    tmp_path: Path,
) -> None:
    url = f"postgresql+asyncpg://app:s3cret@127.0.0.1:{free_port()}/calls"
    cli = Cli(write_config(tmp_path / "engine.toml", url))

    error = one_line_error(cli("campaign", "list"))

    assert "cannot connect to the database postgresql+asyncpg://app:***@127.0.0.1:" in error
    assert "s3cret" not in error
    assert "CAMPAIGN_ENGINE_DATABASE__URL" in error


def test_a_redis_that_does_not_answer_names_its_url_and_setting(
    tmp_path: Path, sqlite_url: str
) -> None:
    redis = {"url": f"redis://:pw@127.0.0.1:{free_port()}/0", "prefix": "x"}
    cli = Cli(write_config(tmp_path / "engine.toml", sqlite_url, redis=redis))

    error = one_line_error(cli("ops", "limits"))

    assert error.startswith("error: Redis at redis://:***@127.0.0.1:")
    assert "[redis] url" in error


def test_a_reject_report_in_a_missing_folder_names_the_path(tmp_path: Path, cli: Cli) -> None:
    campaign_id = cli.create()
    (tmp_path / "list.csv").write_text("phone\n+919811012345\n", encoding="utf-8")
    missing = tmp_path / "no-such-folder" / "rejects.csv"

    error = one_line_error(
        cli("contacts", "import", campaign_id, "list.csv", "--rejects", str(missing))
    )

    assert error == f"error: {missing}: No such file or directory\n"


def test_a_statement_the_database_refused_is_a_bug_and_keeps_its_traceback() -> None:
    refused = sa_exc.IntegrityError(
        "INSERT INTO contacts ...", {}, sqlite3.IntegrityError("UNIQUE constraint failed")
    )

    assert failures.describe(refused, Settings()) is None
    assert failures.describe(RuntimeError("boom"), Settings()) is None
    # A reader that went away (``| head``) is no database failure.
    assert failures.describe(BrokenPipeError(32, "Broken pipe"), Settings()) is None
