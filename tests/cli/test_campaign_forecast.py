"""``campaign forecast ID [--days N] [--json]``: planned from the engine's clock, dials nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from campaign_engine import clock
from tests.cli.support import Cli, one_line_error

# Monday 3 June 2030, 00:00 UTC: 05:30 in India, Sunday 20:00 in New York.
MONDAY = datetime(2030, 6, 3, tzinfo=UTC)
CSV = "phone,name\n+919876543210,Asha\n+12015550123,Ravi\n+80012345678,Toll\n"
SCHEDULE = 'days = ["mon", "tue", "wed", "thu", "fri"]\nwindows = ["10:00-13:00"]\n'


def _campaign(cli: Cli) -> str:
    schedule = cli.config.parent / "schedule.toml"
    schedule.write_text(SCHEDULE, encoding="utf-8")
    contacts = cli.config.parent / "list.csv"
    contacts.write_text(CSV, encoding="utf-8")
    campaign_id = cli.create()
    cli.ok("campaign", "schedule", campaign_id, str(schedule))
    cli.ok("contacts", "import", campaign_id, str(contacts))
    return campaign_id


def test_the_json_plans_each_zone_by_day_from_the_engines_clock(cli: Cli) -> None:
    campaign_id = _campaign(cli)

    with clock.use(clock.FrozenClock(MONDAY)):
        report = cli.json("campaign", "forecast", campaign_id, "--days", "2")

    assert report["now"] == MONDAY.isoformat()
    assert [z["zone"] for z in report["zones"]] == ["Asia/Calcutta", "America/New_York"]
    india, york = report["zones"]
    assert india["first_call_local"] == "2030-06-03 10:00"
    assert [day["date"] for day in india["days"]] == ["2030-06-03", "2030-06-04"]
    assert york["days"][0] == {
        "date": "2030-06-02",
        "calls": 0,
        "first_at": None,
        "last_at": None,
        "note": "sun is not a calling day (America/New_York)",
    }
    assert report["blocked"] == {
        "suppressed": 0,
        "no_timezone": 1,
        "schedule_end": 0,
        "outside_every_window": 0,
    }
    assert set(report["estimate"]) == {"finish", "binding", "description", "calls_per_hour"}


def test_people_read_a_table_per_zone_and_day_and_what_is_blocked(cli: Cli) -> None:
    campaign_id = _campaign(cli)

    with clock.use(clock.FrozenClock(MONDAY)):
        text = cli.ok("campaign", "forecast", campaign_id)

    assert text.startswith("forecast for 7 days from 2030-06-03 00:00 UTC: 3 waiting, ")
    assert "Asia/Calcutta" in text and "2030-06-03" in text
    assert "  blocked, no timezone: 1" in text
    assert "estimated finish: 2030-06-03T" in text


def test_an_unknown_campaign_or_no_days_is_a_clear_error(cli: Cli) -> None:
    assert "campaign nope not found" in one_line_error(cli("campaign", "forecast", "nope"))
    result = cli("campaign", "forecast", "nope", "--days", "0")
    assert result.exit_code == 2
    assert "--days" in result.output
