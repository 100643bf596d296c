"""``campaign-engine suppress`` against a real SQLite database, and imports refusing what it
lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaign_engine.journal.audit import default_actor
from tests.cli.support import Cli, one_line_error


def test_numbers_and_prefixes_are_added_in_international_form_with_reason_and_author(
    cli: Cli,
) -> None:
    out = cli.ok(
        "suppress", "add", "098765 43210", "+91 98765 43211", "--prefix", "+1 800",
        "--default-region", "IN", "--reason", "asked not to", "--by", "asha",
    )  # fmt: skip
    again = cli.ok("suppress", "add", "+919876543210", "--default-region", "IN")

    assert out.strip() == "added 3"
    assert again.strip() == "added 0, already on the list 1"
    entries = cli.json("suppress", "list")
    assert [(e["kind"], e["pattern"], e["campaign_id"]) for e in entries] == [
        ("number", "+919876543210", None),
        ("number", "+919876543211", None),
        ("prefix", "+1800", None),
    ]
    assert {(e["reason"], e["created_by"]) for e in entries} == {("asked not to", "asha")}
    assert all(e["created_at"] for e in entries)


def test_campaign_entries_use_the_campaigns_region_and_list_with_the_global_ones(cli: Cli) -> None:
    us, india = cli.create("US"), cli.create("IN")
    cli.ok("suppress", "add", "(201) 555-0123", "--campaign", us)
    cli.ok("suppress", "add", "9876543210", "--default-region", "IN")
    cli.ok("suppress", "add", "9876543211", "--campaign", india)

    assert [e["pattern"] for e in cli.json("suppress", "list", "--campaign", us)] == [
        "+12015550123",
        "+919876543210",
    ]
    assert len(cli.json("suppress", "list")) == 3
    assert "not found" in one_line_error(cli("suppress", "add", "+12015550123", "--campaign", "x"))


def test_entries_are_removed_by_number_prefix_or_id_and_nothing_to_remove_is_an_error(
    cli: Cli,
) -> None:
    cli.ok("suppress", "add", "+919876543210", "+919876543211", "--prefix", "+1800")

    cli.ok("suppress", "remove", "+91 98765 43210", "--prefix", "+1800")
    [left] = cli.json("suppress", "list")
    cli.ok("suppress", "remove", "--id", str(left["id"]))

    assert cli.json("suppress", "list") == []
    message = one_line_error(cli("suppress", "remove", "+919876543210"))
    assert "nothing to remove: not on the global list" in message


def test_importing_a_do_not_call_file_adds_its_numbers(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "dnc.csv").write_text(
        "Mobile,Reason\n98765 43210,lawyer\n9876543211,\nnope,\n", encoding="utf-8"
    )

    summary = json.loads(
        cli.ok("suppress", "import", "dnc.csv", "--default-region", "IN", "--reason", "list",
               "--json")
    )  # fmt: skip

    assert (summary["added"], summary["rejected_by_reason"]) == (2, {"invalid_number": 1})
    assert [(e["pattern"], e["reason"]) for e in cli.json("suppress", "list")] == [
        ("+919876543210", "lawyer"),
        ("+919876543211", "list"),
    ]


def test_contacts_on_the_list_are_refused_by_the_import(cli: Cli, tmp_path: Path) -> None:
    campaign_id = cli.create()
    cli.ok("suppress", "add", "+919876543210", "--reason", "complaint")
    cli.ok("suppress", "add", "--prefix", "+9198765432", "--campaign", campaign_id)
    (tmp_path / "list.csv").write_text(
        "phone,name\n9876543210,Asha\n9876543299,Ravi\n9811111111,Meera\n", encoding="utf-8"
    )

    summary = json.loads(
        cli.ok("contacts", "import", campaign_id, "list.csv", "--rejects", "rejects.csv",
               "--json")
    )  # fmt: skip

    assert (summary["imported"], summary["rejected_by_reason"]) == (1, {"suppressed": 2})
    report = (tmp_path / "rejects.csv").read_text(encoding="utf-8-sig")
    assert "number +919876543210 (global): complaint" in report
    assert f"prefix +9198765432 (campaign {campaign_id})" in report


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["add"], 2, "give at least one number or --prefix"),
        (["add", "12345", "--default-region", "IN"], 1, "cannot suppress '12345'"),
        (["add", "--prefix", "1800"], 1, "must be '+' and the leading digits"),
        (["remove"], 2, "give a number, --prefix or --id"),
        (["remove", "--id", "99"], 1, "suppression entry 99 not found"),
    ],
)
def test_mistakes_are_one_clear_line(cli: Cli, args: list[str], code: int, message: str) -> None:
    assert message in one_line_error(cli("suppress", *args), code)


def test_adding_importing_and_removing_are_audited_under_the_actor_with_the_reason(
    cli: Cli, tmp_path: Path
) -> None:
    cli.ok("suppress", "add", "+919876543210", "--reason", "asked not to", "--actor", "asha")
    (tmp_path / "dnc.csv").write_text("phone\n+919876543211\n", encoding="utf-8")
    cli.ok("suppress", "import", "dnc.csv", "--reason", "from the CRM")
    cli.ok("suppress", "remove", "+919876543210", "--reason", "consented", "--by", "ravi")

    logged = cli.json("ops", "audit")
    assert [(e["action"], e["actor"], e["target_type"], e["target_id"]) for e in logged] == [
        ("suppress-remove", "ravi", "number", "+919876543210"),
        ("suppress-import", default_actor(), "file", "dnc.csv"),
        ("suppress-add", "asha", "number", "+919876543210"),
    ]
    assert [e["details"]["reason"] for e in logged] == ["consented", "from the CRM", "asked not to"]
    assert logged[0]["details"]["added_by"] == "asha"
    [left] = cli.json("suppress", "list")
    assert (left["pattern"], left["created_by"]) == ("+919876543211", default_actor())


def test_a_reject_report_that_would_overwrite_the_do_not_call_file_is_refused(
    cli: Cli, tmp_path: Path
) -> None:
    dnc = tmp_path / "dnc.csv"
    dnc.write_text("Mobile\n98765 43210\nnope\n", encoding="utf-8")
    before = dnc.read_bytes()

    result = cli("suppress", "import", "dnc.csv", "--default-region", "IN", "--rejects", "dnc.csv")

    assert "is the file being imported" in one_line_error(result)
    assert dnc.read_bytes() == before
    assert cli.json("suppress", "list") == []
