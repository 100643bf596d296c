"""``export`` against a real database: rows per contact or per attempt, CSV made safe."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from typing import Any

import pytest

from campaign_engine.db.models import CallAttempt, Campaign, Contact, utcnow
from campaign_engine.results.export import export
from campaign_engine.runtime import Runtime

EVIL = '=HYPERLINK("http://evil.example","Click")'


async def campaign_with_results(runtime: Runtime) -> tuple[str, dict[str, int]]:
    """Asha: no answer, then completed. Ravi: never called. Mallory: variables and an
    extracted value that would run as formulas; an expired attempt."""
    now = utcnow()
    async with runtime.sessions() as session, session.begin():
        campaign = Campaign(name="results", agent_id="agent", provider="twilio", state="completed")
        session.add(campaign)
        await session.flush()

        def contact(phone: str, state: str, attempts: int, **variables: str) -> Contact:
            return Contact(
                campaign_id=campaign.id,
                phone_e164=phone,
                variables=variables,
                state=state,
                attempts_count=attempts,
                last_outcome={"completed": "completed", "exhausted": "unknown"}.get(state),
            )

        asha = contact("+919876543210", "completed", 2, name="Asha", due="1200")
        ravi = contact("+919876543211", "pending", 0, name="Ravi")
        mallory = contact("+919876543212", "exhausted", 1, name=EVIL, note="-2+3")
        session.add_all([asha, ravi, mallory])
        await session.flush()

        def attempt(who: Contact, number: int, **fields: Any) -> CallAttempt:
            return CallAttempt(
                contact_id=who.id,
                campaign_id=campaign.id,
                attempt_number=number,
                provider="twilio",
                to_number=who.phone_e164,
                deadline_at=now + timedelta(hours=1),
                claimed_at=now + timedelta(seconds=number),
                **fields,
            )

        session.add_all(
            [
                attempt(asha, 1, state="not_sent", error="connect error"),
                attempt(
                    asha,
                    1,
                    state="ended",
                    outcome="no_answer",
                    call_status="no_answer",
                    answered_by="not_answered",
                    call_id="c1",
                ),
                attempt(
                    asha,
                    2,
                    state="ended",
                    outcome="completed",
                    call_status="completed",
                    disposition="completed",
                    answered_by="human",
                    duration_seconds=42.5,
                    credits_used=1.25,
                    recording_url="https://rec.example/c2.mp3",
                    extraction={"status": "success", "values": {"promise": "2026-05-10"}},
                    transcript=[{"role": "user", "content": "=1+1 is two"}],
                    call_id="c2",
                ),
                attempt(
                    mallory,
                    1,
                    state="expired",
                    outcome="unknown",
                    error="no outcome by the deadline",
                    extraction={"status": "success", "values": {"promise": "@SUM(A1)"}},
                    call_id="c3",
                ),
            ]
        )
    return campaign.id, {"asha": asha.id, "ravi": ravi.id, "mallory": mallory.id}


async def run_export(runtime: Runtime, campaign_id: str, **options: Any) -> tuple[str, int]:
    out = io.StringIO()
    async with runtime.sessions() as session, session.begin():
        done = await export(session, campaign_id, out, **options)
    return out.getvalue(), done.rows


async def test_csv_has_one_row_per_contact_with_its_last_finished_attempt(
    runtime: Runtime,
) -> None:
    campaign_id, ids = await campaign_with_results(runtime)
    text, count = await run_export(runtime, campaign_id, fmt="csv")

    rows = list(csv.DictReader(io.StringIO(text)))
    assert count == len(rows) == 3
    asha, ravi, mallory = rows
    assert asha["contact_id"] == str(ids["asha"])
    assert asha["phone"] == "+919876543210"  # E.164 stays readable, no quote prefix
    assert (asha["state"], asha["attempts"], asha["last_attempt_number"]) == (
        "completed",
        "2",
        "2",
    )
    assert (asha["disposition"], asha["answered_by"], asha["duration_seconds"]) == (
        "completed",
        "human",
        "42.5",
    )
    assert (asha["var.name"], asha["var.due"], asha["extraction.promise"]) == (
        "Asha",
        "1200",
        "2026-05-10",
    )
    assert (ravi["state"], ravi["last_attempt_number"], ravi["disposition"]) == (
        "pending",
        "",
        "",
    )
    assert mallory["last_outcome"] == "unknown"


async def test_csv_neutralises_every_cell_that_would_start_a_formula(runtime: Runtime) -> None:
    campaign_id, _ = await campaign_with_results(runtime)
    text, _ = await run_export(runtime, campaign_id, fmt="csv")

    mallory = list(csv.DictReader(io.StringIO(text)))[2]
    assert mallory["var.name"] == "'" + EVIL
    assert mallory["var.note"] == "'-2+3"
    assert mallory["extraction.promise"] == "'@SUM(A1)"
    for row in csv.reader(io.StringIO(text)):
        for value in row:
            assert not value.startswith(("=", "@", "\t", "\r")), value
            assert not value.startswith(("+", "-")) or value.lstrip("+-").isdigit(), value


async def test_attempts_export_has_one_row_per_attempt_with_the_transcript(
    runtime: Runtime,
) -> None:
    campaign_id, ids = await campaign_with_results(runtime)
    text, count = await run_export(runtime, campaign_id, fmt="csv", attempts=True)

    rows = list(csv.DictReader(io.StringIO(text)))
    assert count == len(rows) == 4
    assert [(r["contact_id"], r["attempt_number"], r["state"]) for r in rows] == [
        (str(ids["asha"]), "1", "not_sent"),
        (str(ids["asha"]), "1", "ended"),
        (str(ids["asha"]), "2", "ended"),
        (str(ids["mallory"]), "1", "expired"),
    ]
    assert rows[2]["transcript"] == "user: =1+1 is two"
    assert rows[3]["error"] == "no outcome by the deadline"


async def test_jsonl_keeps_nested_values_and_is_not_altered_for_spreadsheets(
    runtime: Runtime,
) -> None:
    campaign_id, _ = await campaign_with_results(runtime)
    text, count = await run_export(runtime, campaign_id, fmt="jsonl")

    records = [json.loads(line) for line in text.splitlines()]
    assert count == len(records) == 3
    asha, _, mallory = records
    assert asha["variables"] == {"name": "Asha", "due": "1200"}
    assert asha["extraction"] == {"promise": "2026-05-10"}
    assert mallory["variables"]["name"] == EVIL

    attempts_text, _ = await run_export(runtime, campaign_id, fmt="jsonl", attempts=True)
    attempts = [json.loads(line) for line in attempts_text.splitlines()]
    assert attempts[2]["transcript"] == [{"role": "user", "content": "=1+1 is two"}]


async def test_a_campaign_with_many_contacts_is_streamed_in_contact_order(
    runtime: Runtime,
) -> None:
    async with runtime.sessions() as session, session.begin():
        campaign = Campaign(name="big", agent_id="agent", provider="twilio")
        session.add(campaign)
        await session.flush()
        session.add_all(
            Contact(
                campaign_id=campaign.id,
                phone_e164=f"+9198{index:08d}",
                variables={"i": str(index)},
                state="pending",
            )
            for index in range(1234)
        )
    text, count = await run_export(runtime, campaign.id, fmt="jsonl")

    assert count == 1234
    assert [json.loads(line)["variables"]["i"] for line in text.splitlines()] == [
        str(index) for index in range(1234)
    ]


async def test_an_unknown_campaign_is_an_error(runtime: Runtime) -> None:
    with pytest.raises(LookupError, match="campaign nope not found"):
        await run_export(runtime, "nope", fmt="csv")
