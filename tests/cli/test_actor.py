"""Every command that changes something and is audited takes ``--actor``; without it the
change is recorded under the login running the command, as before."""

from __future__ import annotations

import getpass
from pathlib import Path

from tests.cli.support import Cli


def _campaign_with_a_contact(cli: Cli, tmp_path: Path) -> str:
    campaign_id = cli.create()
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("phone,name\n+919811112345,Asha\n", encoding="utf-8")
    cli.ok("contacts", "import", campaign_id, str(contacts))
    return campaign_id


def _audited(cli: Cli) -> list[tuple[str, str, str]]:
    """(action, actor, target id) of every audit entry, oldest first."""
    return [(e["action"], e["actor"], e["target_id"]) for e in reversed(cli.json("ops", "audit"))]


def test_campaign_moves_are_recorded_under_the_actor_given(cli: Cli, tmp_path: Path) -> None:
    campaign_id = _campaign_with_a_contact(cli, tmp_path)

    cli.ok("campaign", "start", campaign_id, "--no-check", "--actor", "crm-sync")
    cli.ok("campaign", "pause", campaign_id, "--actor", "crm-sync", "--reason", "lunch")
    cli.ok("campaign", "resume", campaign_id, "--actor", "asha")
    cli.ok("campaign", "cancel", campaign_id, "--actor", "night-job")

    history = [(e["to"], e["actor"]) for e in cli.json("campaign", "show", campaign_id)["events"]]
    assert history == [
        ("running", "crm-sync"),
        ("paused", "crm-sync"),
        ("running", "asha"),
        ("canceled", "night-job"),
    ]
    assert [(action, actor) for action, actor, _ in _audited(cli)] == [
        ("pause", "crm-sync"),
        ("resume", "asha"),
        ("cancel", "night-job"),
    ]


def test_without_actor_a_campaign_move_is_recorded_under_the_operators_login(
    cli: Cli, tmp_path: Path
) -> None:
    campaign_id = _campaign_with_a_contact(cli, tmp_path)
    cli.ok("campaign", "start", campaign_id, "--no-check")
    cli.ok("campaign", "pause", campaign_id)

    assert _audited(cli) == [("pause", f"operator:{getpass.getuser()}", campaign_id)]


def test_blackout_dates_added_and_removed_are_audited_under_the_actor(cli: Cli) -> None:
    campaign_id = cli.create()

    cli.ok("blackout", "add", "2030-12-25", "--reason", "Christmas", "--actor", "asha")
    cli.ok("blackout", "add", "2030-10-02", "--campaign", campaign_id)
    cli.ok("blackout", "remove", "2030-12-25", "--actor", "ravi")

    assert _audited(cli) == [
        ("blackout.add", "asha", "2030-12-25@*"),
        ("blackout.add", getpass.getuser(), f"2030-10-02@{campaign_id}"),
        ("blackout.remove", "ravi", "2030-12-25@*"),
    ]
