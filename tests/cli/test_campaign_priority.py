"""``campaign create --priority`` and ``campaign priority``: set, shown in the answer, audited."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.support import Cli, one_line_error

AGENT_ID = "00000000-0000-4000-8000-0000000000aa"


def test_priority_is_set_at_create_and_changed_later_audited(config: Path) -> None:
    cli = Cli(config)
    campaign_id = cli.ok(
        "campaign", "create", "--name", "urgent", "--agent-id", AGENT_ID, "--priority", "3"
    ).strip()

    changed = json.loads(cli.ok("campaign", "priority", campaign_id, "5", "--json"))
    assert changed == {"campaign_id": campaign_id, "priority": 5, "previous": 3}
    text = cli.ok("campaign", "priority", campaign_id, "1", "--actor", "lead")
    assert text.strip() == f"campaign {campaign_id}: priority 1 (was 5)"
    audited = json.loads(cli.ok("ops", "audit", "--json"))
    assert [(e["actor"], e["details"]) for e in audited if e["action"] == "priority"] == [
        ("lead", {"from": 5, "to": 1}),
        (audited[-1]["actor"], {"from": 3, "to": 5}),
    ]


def test_a_priority_out_of_range_or_not_a_number_is_refused_in_one_line(config: Path) -> None:
    cli = Cli(config)
    campaign_id = cli.ok("campaign", "create", "--name", "x", "--agent-id", AGENT_ID).strip()

    assert "priority must be from 1 to 1000, got 0" in one_line_error(
        cli("campaign", "priority", campaign_id, "0")
    )
    assert "priority must be a whole number" in one_line_error(
        cli("campaign", "create", "--name", "y", "--agent-id", AGENT_ID, "--priority", "high")
    )
    assert "campaign nope not found" in one_line_error(cli("campaign", "priority", "nope", "2"))
