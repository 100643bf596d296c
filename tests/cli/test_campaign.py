"""The campaign commands of issue 5 against real SQLite and Redis: schedules, retry files,
preflight, the lifecycle with its history, job withdrawal on pause, and blackout dates."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from redis.asyncio import Redis
from sqlalchemy import update
from typer.testing import CliRunner

from campaign_engine.cli import app
from campaign_engine.control import campaign_moves
from campaign_engine.db.models import Contact
from campaign_engine.dialer.scheduler import Scheduler
from campaign_engine.runtime import Runtime
from tests.conftest import TEST_REDIS_URL, engine_settings

AGENT_ID = "00000000-0000-4000-8000-0000000000aa"
CSV = "phone,name\n+919876543210,Asha\n+12015550123,Ravi\n+80012345678,Toll\n"
SCHEDULE = """\
preset = "us_tcpa"
days = ["mon", "tue", "wed", "thu", "fri"]
windows = ["07:00-10:00", "15:00-19:00"]
blackout_dates = ["2030-12-25"]
"""


class Cli:
    def __init__(self, config: Path, tmp_path: Path) -> None:
        self.config = config
        self.tmp_path = tmp_path
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, ["--config", str(self.config), *args])

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, result.output
        return result

    def file(self, name: str, text: str) -> str:
        path = self.tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    def create(self, *options: str) -> str:
        return self.ok(
            "campaign", "create", "--name", "Spring", "--agent-id", AGENT_ID, *options
        ).stdout.strip()

    def with_contacts(self, *options: str) -> str:
        campaign_id = self.create(*options)
        self.ok("contacts", "import", campaign_id, self.file("list.csv", CSV))
        return campaign_id

    def show(self, campaign_id: str) -> dict[str, Any]:
        return json.loads(self.ok("campaign", "show", campaign_id, "--json").stdout)  # type: ignore[no-any-return]


@pytest.fixture
def cli(config: Path, tmp_path: Path) -> Cli:
    return Cli(config, tmp_path)


def test_create_with_schedule_and_retry_files_stores_both_and_show_prints_them(cli: Cli) -> None:
    retry = cli.file(
        "retry.toml", 'max_attempts = 5\nvoicemail_once = true\n[busy]\ndelay = "10m"\n'
    )
    result = cli(
        "campaign", "create", "--name", "Spring", "--agent-id", AGENT_ID,
        "--schedule", cli.file("schedule.toml", SCHEDULE), "--retry", retry,
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    campaign_id = result.stdout.strip()  # only the id on stdout: scripts read it
    assert result.stderr == "note: windows clipped to the us_tcpa hours (08:00-21:00)\n"
    shown = cli.show(campaign_id)
    assert shown["schedule"]["windows"] == ["08:00-10:00", "15:00-19:00"]
    assert shown["schedule"]["preset"] == "us_tcpa"
    assert shown["retry_policy"]["max_attempts"] == 5
    assert shown["retry_policy"]["voicemail_once"] is True
    assert shown["retry_policy"]["rules"]["busy"]["delay_seconds"] == 600
    assert shown["retry_policy"]["rules"]["no_answer"]["max_retries"] == 2  # the default


def test_show_prints_the_default_policy_and_no_schedule(cli: Cli) -> None:
    campaign_id = cli.create()
    text = cli.ok("campaign", "show", campaign_id).stdout
    assert "schedule: none (calls at any time)" in text
    assert "retry policy: at most 4 attempts per contact; voicemail_once false" in text
    assert "completed: never retried" in text


def test_a_bad_schedule_file_is_one_error_naming_file_key_and_problem(cli: Cli) -> None:
    path = cli.file("hours.toml", 'windows = ["9-5"]\n')
    result = cli("campaign", "create", "--name", "X", "--agent-id", AGENT_ID, "--schedule", path)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: {path}: windows: expected \"HH:MM-HH:MM\", got '9-5'\n"


def test_preflight_reports_callable_and_blocked_contacts(cli: Cli) -> None:
    campaign_id = cli.with_contacts("--schedule", cli.file("schedule.toml", SCHEDULE))

    report = json.loads(cli.ok("campaign", "preflight", campaign_id, "--json").stdout)

    assert (report["contacts"], report["callable"]) == (3, 2)
    assert report["blocked"] == {"suppressed": 0, "no_timezone": 1, "outside_every_window": 0}
    assert report["estimated_finish"] is not None
    text = cli.ok("campaign", "preflight", campaign_id).stdout
    assert "preflight: 2 callable, 1 blocked, 0 already final, of 3 contacts" in text


def test_start_prints_the_preflight_and_a_future_start_makes_it_scheduled(cli: Cli) -> None:
    schedule = cli.file("later.toml", SCHEDULE + 'start = "2100-01-04"\n')
    campaign_id = cli.with_contacts("--schedule", schedule)

    result = cli.ok("campaign", "start", campaign_id, "--no-check")

    assert "preflight: 2 callable" in result.stdout
    assert result.stdout.rstrip().endswith(f"campaign {campaign_id} is scheduled")
    assert cli.show(campaign_id)["state"] == "scheduled"


def test_changing_the_schedule_places_waiting_contacts_again(cli: Cli) -> None:
    campaign_id = cli.with_contacts()
    cli.ok("campaign", "start", campaign_id, "--no-check")

    result = cli.ok("campaign", "schedule", campaign_id, cli.file("s.toml", SCHEDULE))

    assert result.stdout.strip() == (
        f"campaign {campaign_id}: schedule set; 3 waiting contacts placed again"
    )
    assert cli.show(campaign_id)["schedule"]["days"] == ["mon", "tue", "wed", "thu", "fri"]
    cleared = cli.ok("campaign", "schedule", campaign_id, "--clear")
    assert "schedule cleared" in cleared.stdout
    assert cli.show(campaign_id)["schedule"] is None
    assert cli("campaign", "schedule", campaign_id).exit_code == 2  # neither FILE nor --clear


PINNED = 'preset = "us_tcpa"\ntimezone = "America/New_York"\n'
PINNED_WARNING = (
    "warning: preset us_tcpa applies in each callee's own time: with timezone "
    "America/New_York, the windows 08:00-21:00 (America/New_York time) are narrowed for "
    "callees in other zones to what 08:00-21:00 their own time allows"
)


def test_a_pinned_zone_under_a_callee_clock_preset_is_warned_about(cli: Cli) -> None:
    """Issue 15: create, schedule and preflight say the preset stays on the callee's clock."""
    schedule = cli.file("pinned.toml", PINNED)
    created = cli(
        "campaign", "create", "--name", "P", "--agent-id", AGENT_ID, "--schedule", schedule
    )
    assert created.exit_code == 0, created.output
    assert created.stderr == PINNED_WARNING + "\n"
    campaign_id = created.stdout.strip()  # still only the id on stdout
    cli.ok("contacts", "import", campaign_id, cli.file("list.csv", CSV))

    changed = cli.ok("campaign", "schedule", campaign_id, schedule)
    assert changed.stderr.startswith(PINNED_WARNING + " (on ")
    assert "Asia/Calcutta callees: 08:00-21:00 their time = " in changed.stderr
    report = json.loads(cli.ok("campaign", "preflight", campaign_id, "--json").stdout)
    assert len(report["warnings"]) == 1
    assert report["warnings"][0].startswith(PINNED_WARNING.removeprefix("warning: "))
    text = cli.ok("campaign", "preflight", campaign_id)
    assert text.stderr.startswith(PINNED_WARNING)
    assert "warning" not in text.stdout
    plain = cli.ok("campaign", "schedule", campaign_id, cli.file("s.toml", SCHEDULE))
    assert "warning" not in plain.stderr  # the callee's own clock: nothing to warn about


def queue_everything(sqlite_url: str, redis_prefix: str) -> int:
    async def enqueue() -> int:
        # A key rate that lets all of them start at once (the default lets one).
        limits = {"vocobase": {"calls_per_minute": 6000}}
        runtime = await Runtime.open(engine_settings(sqlite_url, redis_prefix, limits=limits))
        try:
            return await Scheduler(runtime).enqueue_due()
        finally:
            await runtime.close()

    return asyncio.run(enqueue())


def queue_length(redis_prefix: str) -> int:
    async def count() -> int:
        client = Redis.from_url(TEST_REDIS_URL)
        try:
            return int(await client.zcard(f"{redis_prefix}:queue"))
        finally:
            await client.aclose()

    return asyncio.run(count())


def test_pause_withdraws_queued_jobs_and_the_history_says_who_and_why(
    cli: Cli, sqlite_url: str, redis_prefix: str
) -> None:
    campaign_id = cli.with_contacts()
    cli.ok("campaign", "start", campaign_id, "--no-check")
    assert queue_everything(sqlite_url, redis_prefix) == 3
    assert queue_length(redis_prefix) == 1  # one dial job carries all three contacts

    paused = cli.ok("campaign", "pause", campaign_id, "--reason", "client asked")

    assert paused.stdout.strip() == f"campaign {campaign_id} is paused"
    assert queue_length(redis_prefix) == 0
    shown = cli.show(campaign_id)
    assert shown["contacts"]["by_state"] == {"pending": 3}
    cli.ok("campaign", "resume", campaign_id)
    cli.ok("campaign", "cancel", campaign_id, "--reason", "list withdrawn")
    history = [(e["from"], e["to"], e["reason"]) for e in cli.show(campaign_id)["events"]]
    assert history == [
        ("draft", "running", "started"),
        ("running", "paused", "client asked"),
        ("paused", "running", "resumed"),
        ("running", "canceled", "list withdrawn"),
    ]
    assert all(e["actor"].startswith("operator") for e in cli.show(campaign_id)["events"])
    text = cli.ok("campaign", "show", campaign_id).stdout
    assert "client asked" in text and "list withdrawn" in text


def test_blackout_dates_are_added_listed_and_removed(cli: Cli) -> None:
    campaign_id = cli.create()

    cli.ok("blackout", "add", "2030-12-25", "--reason", "Christmas")
    cli.ok("blackout", "add", "2030-10-02", "--campaign", campaign_id)
    listed = json.loads(cli.ok("blackout", "list", "--json").stdout)

    assert listed == [
        {"date": "2030-10-02", "campaign_id": campaign_id, "reason": None},
        {"date": "2030-12-25", "campaign_id": None, "reason": "Christmas"},
    ]
    again = cli("blackout", "add", "2030-12-25")
    assert again.exit_code == 1
    assert again.stderr == "error: 2030-12-25 is already a blackout date for every campaign\n"
    cli.ok("blackout", "remove", "2030-10-02", "--campaign", campaign_id)
    assert len(json.loads(cli.ok("blackout", "list", "--json").stdout)) == 1
    missing = cli("blackout", "remove", "2030-10-02", "--campaign", campaign_id)
    assert missing.exit_code == 1
    bad = cli("blackout", "add", "25/12/2030")
    assert bad.stderr == "error: DATE must be YYYY-MM-DD, got '25/12/2030'\n"


def test_a_blackout_for_an_unknown_campaign_is_refused(cli: Cli) -> None:
    result = cli("blackout", "add", "2030-12-25", "--campaign", "nope")
    assert result.stderr == "error: campaign nope not found\n"


def test_resuming_a_campaign_paused_before_its_start_says_it_is_scheduled(cli: Cli) -> None:
    campaign_id = cli.with_contacts(
        "--schedule", cli.file("s.toml", SCHEDULE + 'start = "2100-01-04"\n')
    )
    cli.ok("campaign", "start", campaign_id, "--no-check")
    cli.ok("campaign", "pause", campaign_id)
    resumed = cli.ok("campaign", "resume", campaign_id)
    assert resumed.stdout.strip() == (
        f"campaign {campaign_id} is scheduled again (its schedule starts later)"
    )


def finish_and_settle(sqlite_url: str, redis_prefix: str, campaign_id: str) -> list[str]:
    """Every contact of the campaign completed, then the scheduler's completion step."""

    async def settle() -> list[str]:
        runtime = await Runtime.open(engine_settings(sqlite_url, redis_prefix))
        try:
            async with runtime.sessions() as session, session.begin():
                await session.execute(
                    update(Contact)
                    .where(Contact.campaign_id == campaign_id)
                    .values(state="completed", next_attempt_at=None)
                )
            async with runtime.sessions() as session, session.begin():
                return await campaign_moves.complete_finished(session)
        finally:
            await runtime.close()

    return asyncio.run(settle())


def test_a_recurring_campaign_shows_ongoing_and_campaign_end_completes_it(
    cli: Cli, sqlite_url: str, redis_prefix: str, tmp_path: Path
) -> None:
    crm = tmp_path / "crm.db"
    with sqlite3.connect(crm) as connection:
        connection.execute("CREATE TABLE leads (phone TEXT, name TEXT)")
        connection.execute("INSERT INTO leads VALUES ('+919876543210', 'Asha')")
    campaign_id = cli.create()
    cli.ok(
        "contacts", "import", campaign_id, "--from-sql", "SELECT phone, name FROM leads",
        "--source-url", f"sqlite:///{crm}", "--save-source",
    )  # fmt: skip
    cli.ok("campaign", "start", campaign_id, "--no-check")

    assert finish_and_settle(sqlite_url, redis_prefix, campaign_id) == []

    status = json.loads(cli.ok("campaign", "status", campaign_id, "--json").stdout)
    assert status["state"] == "ongoing"
    assert status["state_reason"].startswith("every contact so far is final; next pull due ")
    assert status["state_reason"].endswith(" UTC")
    listed = json.loads(cli.ok("campaign", "list", "--json").stdout)
    assert [(c["state"], c["reason"]) for c in listed] == [("ongoing", status["state_reason"])]
    assert "ongoing" in cli.ok("campaign", "status", campaign_id).stdout

    ended = json.loads(cli.ok("campaign", "end", campaign_id, "--json").stdout)

    assert ended == {
        "id": campaign_id,
        "state": "completed",
        "state_reason": "ended by operator",
        "sources_forgotten": 1,
        "contacts_closed": 0,
    }
    assert cli.show(campaign_id)["events"][-1]["actor"].startswith("operator")
    assert json.loads(cli.ok("contacts", "sources", campaign_id, "--json").stdout) == []
    again = cli("campaign", "end", campaign_id)
    assert again.exit_code == 1
    assert again.stderr == (
        f"error: campaign {campaign_id} is completed; only a started campaign can be ended\n"
    )


def test_ending_a_campaign_with_contacts_left_says_it_completes_once_they_are_final(
    cli: Cli, tmp_path: Path
) -> None:
    crm = tmp_path / "crm.db"
    with sqlite3.connect(crm) as connection:
        connection.execute("CREATE TABLE leads (phone TEXT, name TEXT)")
        connection.execute("INSERT INTO leads VALUES ('+919876543210', 'Asha')")
    campaign_id = cli.create()
    cli.ok(
        "contacts", "import", campaign_id, "--from-sql", "SELECT phone, name FROM leads",
        "--source-url", f"sqlite:///{crm}", "--save-source",
    )  # fmt: skip
    cli.ok("campaign", "start", campaign_id, "--no-check")

    ended = cli.ok("campaign", "end", campaign_id, "--reason", "season over")

    assert ended.stdout.strip() == (
        f"campaign {campaign_id} ended: no more pulls; it is running and completes once its "
        "contacts are final"
    )
    status = json.loads(cli.ok("campaign", "status", campaign_id, "--json").stdout)
    assert status["state_reason"] == (
        "ended by operator: season over; completes when its contacts are final"
    )
