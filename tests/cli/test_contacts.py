"""``campaign-engine contacts`` against a real SQLite database: database sources, saved
sources, the agent's contract fetched from Vocobase (the simulator), and Ctrl-C."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from campaign_engine.db.models import Campaign, Contact
from campaign_engine.db.session import create_engine, session_factory
from campaign_engine.simulator.cli import serve_in_background
from tests.cli.support import Cli, one_line_error, write_config
from tests.harness import API_KEY, sim_config

QUERY = "SELECT phone, name FROM leads"


def crm(path: Path, *numbers: str) -> str:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS leads (phone TEXT, name TEXT)")
        connection.executemany(
            "INSERT INTO leads VALUES (?, ?)", [(n, f"lead {n[-2:]}") for n in numbers]
        )
    return f"sqlite:///{path}"


def stored(url: str, campaign_id: str) -> tuple[int, list[str] | None]:
    async def read() -> tuple[int, list[str] | None]:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session:
                count = await session.scalar(
                    select(func.count())
                    .select_from(Contact)
                    .where(Contact.campaign_id == campaign_id)
                )
                campaign = await session.get(Campaign, campaign_id)
                assert campaign is not None
                return int(count or 0), campaign.agent_variables
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_a_saved_database_source_is_pulled_again_adding_only_new_leads(
    cli: Cli, tmp_path: Path
) -> None:
    campaign_id = cli.create()
    url = crm(tmp_path / "crm.db", "9876543210", "9876543211")

    first = json.loads(
        cli.ok("contacts", "import", campaign_id, "--from-sql", QUERY, "--source-url", url,
               "--save-source", "--json")
    )  # fmt: skip
    crm(tmp_path / "crm.db", "9876543212")
    pulled = json.loads(cli.ok("contacts", "pull", campaign_id, "--json"))
    sources = json.loads(cli.ok("contacts", "sources", campaign_id, "--json"))

    assert (first["imported"], first["query"], first["file"]) == (2, QUERY, url)
    assert [(s["imported"], s["rejected_by_reason"]) for s in pulled] == [
        (1, {"duplicate_in_campaign": 2})
    ]
    assert [(s["source_url"], s["query"], s["last_result"]["imported"]) for s in sources] == [
        (url, QUERY, 1)
    ]
    cli.ok("contacts", "forget-source", str(sources[0]["id"]))
    assert json.loads(cli.ok("contacts", "sources", campaign_id, "--json")) == []


def test_a_database_error_is_one_line_with_the_password_masked(cli: Cli) -> None:
    campaign_id = cli.create()
    url = "postgresql+asyncpg://crm:hunter2@127.0.0.1:1/crm"

    result = cli("contacts", "import", campaign_id, "--from-sql", QUERY, "--source-url", url)

    message = one_line_error(result, 1)
    assert "hunter2" not in result.output
    assert "postgresql+asyncpg://crm:***@127.0.0.1:1/crm" in message


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "give either a CSV file or --from-sql"),
        (["list.csv", "--from-sql", QUERY, "--source-url", "sqlite://"], "give either"),
        (["--from-sql", QUERY], "--from-sql needs --source-url"),
        (["list.csv", "--save-source"], "go with --from-sql"),
        (["--from-sql", QUERY, "--source-url", "sqlite://", "--encoding", "utf-8"], "CSV files"),
        (["--from-sql", QUERY, "--source-url", "sqlite://", "--save-source", "--dry-run"], "saves"),
    ],
)
def test_inconsistent_source_options_are_refused_before_anything_runs(
    cli: Cli, tmp_path: Path, extra: list[str], message: str
) -> None:
    (tmp_path / "list.csv").write_text("phone\n9876543210\n", encoding="utf-8")
    result = cli("contacts", "import", "any-campaign", *extra)
    assert message in one_line_error(result, 2)


@pytest.fixture
def vocobase_url() -> Iterator[str]:
    """The Vocobase simulator (its agent declares ``name`` and ``ce_attempt_id``), served
    from a thread of its own while the CLI runs its own event loop."""
    ready = threading.Event()
    served: dict[str, str] = {}
    stop: list[Callable[[], object]] = []

    async def serve() -> None:
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        async with serve_in_background(sim_config()) as (url, _simulator):
            served["url"] = url
            stop.append(lambda: loop.call_soon_threadsafe(stopping.set))
            ready.set()
            await stopping.wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(15), "the simulator did not start"
    yield served["url"]
    stop[0]()
    thread.join(15)


def test_the_agent_is_asked_for_its_variables_at_import_and_undeclared_columns_dropped(
    tmp_path: Path, sqlite_url: str, vocobase_url: str
) -> None:
    vocobase = {"base_url": vocobase_url, "api_key": API_KEY}
    cli = Cli(write_config(tmp_path / "engine.toml", sqlite_url, vocobase=vocobase))
    campaign_id = cli.create()
    (tmp_path / "list.csv").write_text("phone,name,city\n9876543210,Asha,Pune\n", "utf-8")

    refused = cli("contacts", "import", campaign_id, "list.csv")
    dropped = cli.ok("contacts", "import", campaign_id, "list.csv", "--drop-undeclared")

    assert "columns the agent does not declare: city" in one_line_error(refused, 1)
    assert "left out (the agent does not declare them): city" in dropped
    assert stored(sqlite_url, campaign_id) == (1, ["name", "ce_attempt_id"])


def test_a_kept_column_is_stored_for_the_export_while_the_agent_checks_the_rest(
    tmp_path: Path, sqlite_url: str, vocobase_url: str
) -> None:
    vocobase = {"base_url": vocobase_url, "api_key": API_KEY}
    cli = Cli(write_config(tmp_path / "engine.toml", sqlite_url, vocobase=vocobase))
    campaign_id = cli.create()
    (tmp_path / "list.csv").write_text("phone,name,CRM Id\n9876543210,Asha,C-9\n", "utf-8")

    said = cli.ok("contacts", "import", campaign_id, "list.csv", "--keep-column", "CRM Id")
    as_json = json.loads(
        cli.ok("contacts", "import", campaign_id, "list.csv", "--keep-column", "crm id", "--json")
    )
    exported = cli.ok("results", "export", campaign_id, "--format", "csv")

    assert "kept for the export, not sent to the agent: CRM Id" in said
    assert as_json["kept_columns"] == ["CRM Id"] and as_json["variables"] == ["name"]
    assert "kept.crm_id" in exported.splitlines()[0] and "C-9" in exported


def test_checking_in_worker_processes_gives_the_same_summary(cli: Cli, tmp_path: Path) -> None:
    campaign_a, campaign_b = cli.create(), cli.create()
    rows = "".join(f"98765432{i:02d},P{i}\n" for i in range(12)) + "12345,bad\n9876543200,dup\n"
    (tmp_path / "list.csv").write_text("phone,name\n" + rows, encoding="utf-8")

    one = json.loads(
        cli.ok("contacts", "import", campaign_a, "list.csv", "--workers", "0", "--json")
    )
    two = json.loads(
        cli.ok("contacts", "import", campaign_b, "list.csv", "--workers", "2",
               "--batch-size", "5", "--json")
    )  # fmt: skip

    assert one == two
    assert (two["imported"], two["rejected"]) == (12, 2)


def test_ctrl_c_keeps_whole_batches_and_running_it_again_completes_the_import(
    cli: Cli, tmp_path: Path, sqlite_url: str
) -> None:
    campaign_id = cli.create()
    total, batch = 6000, 300
    rows = "".join(f"9{index:09d},P{index}\n" for index in range(total))
    (tmp_path / "big.csv").write_text("phone,name\n" + rows, encoding="utf-8")
    command = [sys.executable, "-c", "from campaign_engine.cli import main; main()"]
    args = ["--config", str(cli.config), "contacts", "import", campaign_id, "big.csv"]
    args += ["--workers", "0", "--batch-size", str(batch), "--json"]

    child = subprocess.Popen([*command, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while child.poll() is None and stored(sqlite_url, campaign_id)[0] == 0:
        time.sleep(0.01)
    child.send_signal(signal.SIGINT)
    _, stderr = child.communicate(timeout=60)
    kept = stored(sqlite_url, campaign_id)[0]

    # Interrupted, unless it had finished: then the signal may still land while the
    # interpreter exits (killed by it, nothing to report, every row stored).
    finished = kept == total and child.returncode in (0, -signal.SIGINT)
    if not finished:
        assert (child.returncode, stderr.decode().strip()) == (130, "error: interrupted")
    assert kept % batch == 0 or kept == total
    rerun = json.loads(cli.ok("contacts", "import", campaign_id, "big.csv", "--json"))
    assert rerun["imported"] == total - kept
    assert rerun["rejected_by_reason"].get("duplicate_in_campaign", 0) == kept
    assert stored(sqlite_url, campaign_id)[0] == total


def test_letters_in_a_number_are_rejected_unless_vanity_numbers_are_asked_for(
    cli: Cli, tmp_path: Path, sqlite_url: str
) -> None:
    campaign_id = cli.create("US")
    (tmp_path / "list.csv").write_text(
        "phone,name\n1-800-FLOWERS,Shop\n650 253 0000,Office\n", encoding="utf-8"
    )

    strict = json.loads(cli.ok("contacts", "import", campaign_id, "list.csv", "--json"))
    vanity = json.loads(
        cli.ok("contacts", "import", campaign_id, "list.csv", "--vanity-numbers", "--json")
    )

    assert (strict["imported"], strict["rejected_by_reason"]) == (1, {"letters_in_number": 1})
    assert (vanity["imported"], vanity["rejected_by_reason"]) == (1, {"duplicate_in_campaign": 1})
    assert stored(sqlite_url, campaign_id)[0] == 2


def test_a_database_import_and_its_saved_source_keep_the_vanity_numbers_choice(
    cli: Cli, tmp_path: Path
) -> None:
    campaign_id = cli.create()
    url = crm(tmp_path / "crm.db", "98765abcde", "9876543211")

    strict = json.loads(
        cli.ok("contacts", "import", campaign_id, "--from-sql", QUERY, "--source-url", url,
               "--dry-run", "--json")
    )  # fmt: skip
    vanity = json.loads(
        cli.ok("contacts", "import", campaign_id, "--from-sql", QUERY, "--source-url", url,
               "--vanity-numbers", "--save-source", "--json")
    )  # fmt: skip
    [source] = json.loads(cli.ok("contacts", "sources", campaign_id, "--json"))

    assert (strict["imported"], strict["rejected_by_reason"]) == (1, {"letters_in_number": 1})
    assert (vanity["imported"], vanity["rejected_by_reason"]) == (2, {})
    assert source["options"]["vanity_numbers"] is True


@pytest.mark.parametrize("state", ["canceled", "completed"])
def test_importing_into_a_finished_campaign_is_one_clear_error(
    cli: Cli, tmp_path: Path, sqlite_url: str, state: str
) -> None:
    campaign_id = cli.create()
    set_state(sqlite_url, campaign_id, state)
    (tmp_path / "list.csv").write_text("phone\n9876543210\n", encoding="utf-8")

    result = cli("contacts", "import", campaign_id, "list.csv", "--rejects", "rejects.csv")

    message = one_line_error(result)
    assert f"campaign {campaign_id} is {state}" in message
    assert not (tmp_path / "rejects.csv").exists()
    assert stored(sqlite_url, campaign_id)[0] == 0


def set_state(url: str, campaign_id: str, state: str) -> None:
    async def write() -> None:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session, session.begin():
                campaign = await session.get(Campaign, campaign_id)
                assert campaign is not None
                campaign.state = state
        finally:
            await engine.dispose()

    asyncio.run(write())
