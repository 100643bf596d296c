"""The ``campaign-engine`` command line against a real SQLite database and a real config file.

Operators script these commands: what goes to stdout must parse, and every expected failure
must be one clear line on stderr with a non-zero status, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from click.testing import Result
from sqlalchemy import update
from typer.testing import CliRunner

from campaign_engine.cli import app
from campaign_engine.db.migrate import alembic_config
from campaign_engine.db.models import Campaign
from campaign_engine.db.session import create_engine, session_factory
from tests.cli.support import write_config

AGENT_ID = "00000000-0000-4000-8000-0000000000aa"
CSV = "phone,first_name\n9876543210,Asha\n9876543211,Ravi\n12345,Bad\n"


@pytest.fixture
def cli(config: Path) -> CliRunnerFor:
    return CliRunnerFor(config)


class CliRunnerFor:
    def __init__(self, config: Path) -> None:
        self.config = config
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, ["--config", str(self.config), *args])

    def create(self, name: str = "X") -> str:
        result = self(
            "campaign", "create", "--name", name, "--agent-id", AGENT_ID, "--provider", "twilio"
        )
        assert result.exit_code == 0, result.output
        return result.stdout.strip()

    def status(self, campaign_id: str) -> dict[str, object]:
        result = self("campaign", "status", campaign_id, "--json")
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)  # type: ignore[no-any-return]


def assert_one_line_error(result: Result, message: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    assert result.stdout == ""
    assert result.stderr == f"error: {message}\n"
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def set_agent_variables(url: str, campaign_id: str, names: list[str]) -> None:
    async def write() -> None:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                await session.execute(
                    update(Campaign).where(Campaign.id == campaign_id).values(agent_variables=names)
                )
        finally:
            await engine.dispose()

    asyncio.run(write())


def test_db_upgrade_creates_the_schema_in_a_new_sqlite_file(tmp_path: Path) -> None:
    database = tmp_path / "fresh.db"
    cli = CliRunnerFor(write_config(tmp_path / "fresh.toml", f"sqlite+aiosqlite:///{database}"))

    assert cli("db", "current").stdout.strip() == "(empty database)"
    result = cli("db", "upgrade")

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == f"database at revision {head}"
    assert database.is_file()
    assert cli("db", "current").stdout.strip() == head
    # Running it again is harmless.
    assert cli("db", "upgrade").exit_code == 0


def test_campaign_create_prints_the_new_campaigns_id(cli: CliRunnerFor) -> None:
    result = cli(
        "campaign", "create", "--name", "Spring", "--agent-id", AGENT_ID, "--provider", "twilio"
    )

    assert result.exit_code == 0, result.output
    campaign_id = result.stdout.strip()
    assert str(uuid.UUID(campaign_id)) == campaign_id
    status = cli.status(campaign_id)
    assert (status["name"], status["provider"], status["state"]) == ("Spring", "twilio", "draft")
    assert status["agent_id"] == AGENT_ID


def test_campaign_create_with_a_bad_agent_id_is_one_clear_error(cli: CliRunnerFor) -> None:
    result = cli("campaign", "create", "--name", "X", "--agent-id", "not-a-uuid")

    assert_one_line_error(result, "agent id must be a UUID, got 'not-a-uuid'")


def test_campaign_create_with_an_unknown_provider_is_one_clear_error(cli: CliRunnerFor) -> None:
    result = cli("campaign", "create", "--name", "X", "--agent-id", AGENT_ID, "--provider", "acme")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown provider 'acme'; expected one of ")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_error_text_is_printed_literally_not_as_console_markup(cli: CliRunnerFor) -> None:
    result = cli("campaign", "create", "--name", "X", "--agent-id", "[/x][bold]y")

    assert_one_line_error(result, "agent id must be a UUID, got '[/x][bold]y'")


def test_contacts_import_json_prints_the_summary(cli: CliRunnerFor, tmp_path: Path) -> None:
    campaign_id = cli.create()
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")

    result = cli(
        "contacts", "import", campaign_id, str(tmp_path / "list.csv"),
        "--default-region", "IN", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary == {
        "file": str(tmp_path / "list.csv"),
        "encoding": "utf-8",
        "delimiter": ",",
        "phone_column": "phone",
        "variables": ["first_name"],
        "rows": 3,
        "imported": 2,
        "rejected": 1,
        "rejected_by_reason": {"invalid_number": 1},
        "dry_run": False,
        "variables_checked": False,  # no API key in the test config, none stored
    }


def test_contacts_import_warns_when_the_agents_variables_could_not_be_checked(
    cli: CliRunnerFor, tmp_path: Path
) -> None:
    campaign_id = cli.create()
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")

    result = cli("contacts", "import", campaign_id, str(tmp_path / "list.csv"))

    assert result.exit_code == 0, result.output
    assert "warning: the agent's declared variables are not known" in result.stderr
    assert "set VOCOBASE_API_KEY" in result.stderr


def test_contacts_import_dry_run_imports_nothing(cli: CliRunnerFor, tmp_path: Path) -> None:
    campaign_id = cli.create()
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")

    result = cli(
        "contacts", "import", campaign_id, str(tmp_path / "list.csv"),
        "--default-region", "IN", "--dry-run", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["dry_run"] is True
    assert json.loads(result.stdout)["imported"] == 2
    assert cli.status(campaign_id)["contacts"] == {"total": 0, "final": 0, "by_state": {}}


def test_contacts_import_writes_the_rejects_file_when_asked(
    cli: CliRunnerFor, tmp_path: Path
) -> None:
    campaign_id = cli.create()
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")
    rejects = tmp_path / "rejects.csv"

    result = cli(
        "contacts", "import", campaign_id, str(tmp_path / "list.csv"),
        "--default-region", "IN", "--rejects", str(rejects), "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    lines = rejects.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0] == "phone,first_name,_line,_reason,_detail"
    assert lines[1].startswith("12345,Bad,4,invalid_number,")


def test_contacts_import_refused_by_the_agents_variables_is_one_clear_error(
    cli: CliRunnerFor, tmp_path: Path, sqlite_url: str
) -> None:
    campaign_id = cli.create()
    set_agent_variables(sqlite_url, campaign_id, ["name", "ce_attempt_id"])
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")

    result = cli("contacts", "import", campaign_id, str(tmp_path / "list.csv"), "--json")

    assert result.exit_code == 1
    assert result.stderr.startswith("error: nothing imported; columns the agent does not declare:")
    assert "first_name" in result.stderr
    assert result.stderr.count("\n") == 1
    assert cli.status(campaign_id)["contacts"]["total"] == 0  # type: ignore[index]


def test_contacts_import_does_not_ask_the_file_for_the_engines_correlation_variable(
    cli: CliRunnerFor, tmp_path: Path, sqlite_url: str
) -> None:
    campaign_id = cli.create()
    set_agent_variables(sqlite_url, campaign_id, ["first_name", "ce_attempt_id"])
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")

    result = cli(
        "contacts", "import", campaign_id, str(tmp_path / "list.csv"),
        "--default-region", "IN", "--json",
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["imported"] == 2


def test_campaign_status_json_prints_id_state_and_contact_counts(
    cli: CliRunnerFor, tmp_path: Path
) -> None:
    campaign_id = cli.create()
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")
    cli("contacts", "import", campaign_id, str(tmp_path / "list.csv"), "--default-region", "IN")

    result = cli("campaign", "status", campaign_id, "--json")

    assert result.exit_code == 0, result.output
    status = json.loads(result.stdout)
    assert status["id"] == campaign_id
    assert status["state"] == "draft"
    assert status["contacts"] == {"total": 2, "final": 0, "by_state": {"pending": 2}}
    assert status["attempts"] == {"total": 0, "by_state": {}, "by_outcome": {}}


def test_campaign_status_of_an_unknown_campaign_is_one_clear_error(cli: CliRunnerFor) -> None:
    assert_one_line_error(cli("campaign", "status", "nope", "--json"), "campaign nope not found")


def test_campaign_list_json_prints_every_campaign_newest_first(cli: CliRunnerFor) -> None:
    older = cli.create("older")
    newer = cli.create("newer")

    result = cli("campaign", "list", "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"id": newer, "name": "newer", "state": "draft", "reason": None},
        {"id": older, "name": "older", "state": "draft", "reason": None},
    ]


def test_campaign_list_json_on_an_empty_database_is_an_empty_list(cli: CliRunnerFor) -> None:
    result = cli("campaign", "list", "--json")
    assert (result.exit_code, json.loads(result.stdout)) == (0, [])


def test_bad_config_file_exits_2_naming_the_file_and_the_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[database]\nurll = 'sqlite+aiosqlite:///x.db'\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["--config", str(bad), "campaign", "list"])

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"error: {bad}: invalid configuration\n  database.urll: Extra inputs are not permitted\n"
    )
    assert "Traceback" not in result.output


def test_missing_config_file_exits_2_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.toml"
    result = CliRunner().invoke(app, ["--config", str(missing), "campaign", "list"])

    assert_one_line_error(result, f"{missing}: config file not found", code=2)


def test_config_file_named_by_the_environment_is_used(
    tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CAMPAIGN_ENGINE_CONFIG", str(write_config(tmp_path / "e.toml", sqlite_url)))
    CliRunnerFor(tmp_path / "e.toml").create("via env")

    result = CliRunner().invoke(app, ["campaign", "list", "--json"])

    assert result.exit_code == 0, result.output
    assert [row["name"] for row in json.loads(result.stdout)] == ["via env"]


def test_pausing_a_draft_campaign_is_one_clear_error(cli: CliRunnerFor) -> None:
    campaign_id = cli.create()

    assert_one_line_error(
        cli("campaign", "pause", campaign_id), f"campaign {campaign_id} is draft; cannot go paused"
    )
    assert cli.status(campaign_id)["state"] == "draft"


def test_resuming_a_draft_campaign_is_refused_and_does_not_start_it(cli: CliRunnerFor) -> None:
    """Only ``campaign start`` may start a draft: it checks contacts and Vocobase first."""
    campaign_id = cli.create()

    result = cli("campaign", "resume", campaign_id)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: campaign {campaign_id} is draft; ")
    assert result.stderr.count("\n") == 1
    assert cli.status(campaign_id)["state"] == "draft"


@pytest.mark.parametrize(("action", "target"), [("pause", "paused"), ("resume", "running")])
def test_state_errors_on_a_canceled_campaign_are_one_unwrapped_line(
    cli: CliRunnerFor, action: str, target: str
) -> None:
    campaign_id = cli.create()
    canceled = cli("campaign", "cancel", campaign_id)
    assert canceled.exit_code == 0, canceled.output
    assert canceled.stdout.strip() == f"campaign {campaign_id} is canceled"

    # Longer than 80 columns: must not be wrapped when stderr is not a terminal.
    assert_one_line_error(
        cli("campaign", action, campaign_id),
        f"campaign {campaign_id} is canceled; cannot go {target}",
    )


def test_pause_resume_and_cancel_of_a_running_campaign(cli: CliRunnerFor, tmp_path: Path) -> None:
    campaign_id = cli.create()
    (tmp_path / "list.csv").write_text(CSV, encoding="utf-8")
    cli("contacts", "import", campaign_id, str(tmp_path / "list.csv"), "--default-region", "IN")
    started = cli("campaign", "start", campaign_id, "--no-check")
    assert started.exit_code == 0, started.output

    assert cli("campaign", "pause", campaign_id).stdout.strip() == (
        f"campaign {campaign_id} is paused"
    )
    assert cli.status(campaign_id)["state"] == "paused"
    assert cli("campaign", "resume", campaign_id).stdout.strip() == (
        f"campaign {campaign_id} is running again"
    )
    assert cli.status(campaign_id)["state"] == "running"
    assert cli("campaign", "cancel", campaign_id).exit_code == 0
    status = cli.status(campaign_id)
    assert status["state"] == "canceled"
    assert status["contacts"] == {"total": 2, "final": 2, "by_state": {"canceled": 2}}


def test_starting_a_campaign_without_contacts_is_one_clear_error(cli: CliRunnerFor) -> None:
    campaign_id = cli.create()

    assert_one_line_error(
        cli("campaign", "start", campaign_id, "--no-check"),
        f"campaign {campaign_id} has no contacts; import some first",
    )
