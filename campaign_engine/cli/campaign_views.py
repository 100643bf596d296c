"""How campaigns are printed for people (``--json`` prints the same data for scripts)."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from campaign_engine.campaigns.preflight import Preflight
from campaign_engine.cli.common import console, errors


def say(text: str) -> None:
    """One line (or a few) for people: never wrapped, so it reads the same in a log file."""
    console.print(text, highlight=False, soft_wrap=True)


def warn(text: str) -> None:
    """``warning: ...`` on stderr (stdout stays what scripts read)."""
    errors.print(f"warning: {escape(text)}", highlight=False, soft_wrap=True)


def print_status(data: dict[str, Any]) -> None:
    contacts = data["contacts"]
    say(
        f"[bold]{escape(data['name'])}[/] ({data['id']}) — [bold]{data['state']}[/]"
        + (f": {escape(data['state_reason'])}" if data["state_reason"] else "")
    )
    say(f"contacts: {contacts['final']} final of {contacts['total']}")
    table = Table("contact state", "count")
    for state, count in sorted(contacts["by_state"].items()):
        table.add_row(state, str(count))
    console.print(table)
    outcomes = Table("attempt outcome", "count")
    for outcome, count in sorted(data["attempts"]["by_outcome"].items()):
        outcomes.add_row(outcome, str(count))
    console.print(outcomes)


def print_overview(data: dict[str, Any]) -> None:
    print_status(data)
    limits = data["limits"]
    say(
        f"provider {data['provider']}; max concurrent {limits['max_concurrent'] or '-'}; "
        f"calls per minute {limits['calls_per_minute'] or '-'}; "
        f"agent max call {limits['max_call_seconds']} s"
    )
    _print_schedule(data["schedule"])
    _print_estimate(data.get("estimate"))
    _print_daily(data.get("daily"), recurring=bool(data.get("recurring")))
    _print_policy(data["retry_policy"])
    history = Table("when", "from", "to", "by", "why", title="history")
    for event in data["events"]:
        history.add_row(
            event["at"],
            event["from"] or "",
            event["to"],
            escape(event["actor"]),
            escape(event["reason"] or ""),
        )
    console.print(history)


def _print_schedule(schedule: dict[str, Any] | None) -> None:
    if schedule is None:
        say("schedule: none (calls at any time)")
        return
    zone = schedule["timezone"]
    if zone == "callee":
        zone = "the callee's own zones" + (
            f" (else {schedule['fallback_timezone']})" if schedule["fallback_timezone"] else ""
        )
    lines = [
        f"schedule: {', '.join(schedule['windows'])} on {', '.join(schedule['days'])}, in {zone}",
        f"  preset: {schedule['preset'] or 'none'}",
        f"  start: {schedule['start'] or 'when started'}; end: {schedule['end'] or 'none'}",
    ]
    if schedule["blackout_dates"]:
        lines.append(f"  blackout dates: {', '.join(schedule['blackout_dates'])}")
    say("\n".join(lines))


def _print_estimate(estimate: dict[str, Any] | None) -> None:
    if estimate is None:
        return
    say(
        f"estimated finish: {estimate['finish'] or 'not within the schedule'}"
        + (f" ({escape(estimate['description'])})" if estimate["description"] else "")
    )


def _print_daily(daily: dict[str, Any] | None, *, recurring: bool) -> None:
    """Per local day (home zone), with the totals; only when there is more than one day or
    the campaign is recurring (one day is the status above)."""
    if daily is None or (len(daily["days"]) < 2 and not recurring):
        return
    table = Table("date", "added", "called", "final", title=f"per day ({daily['zone']})")
    for day in daily["days"]:
        table.add_row(day["date"], str(day["added"]), str(day["called"]), str(day["final"]))
    total = daily["total"]
    table.add_row("total", str(total["added"]), str(total["called"]), str(total["final"]))
    console.print(table)


def _print_policy(policy: dict[str, Any]) -> None:
    say(
        f"retry policy: at most {policy['max_attempts']} attempts per contact; "
        f"voicemail_once {str(policy['voicemail_once']).lower()}",
    )
    table = Table("outcome", "retry", "budget", "delay", "backoff", "max delay", "jitter")
    for outcome, rule in policy["rules"].items():
        table.add_row(
            outcome,
            "yes" if rule["retry"] else "no",
            str(rule["max_retries"]),
            _duration(rule["delay_seconds"]),
            rule["backoff"] + (f" x{rule['multiplier']:g}" if rule["backoff"] != "fixed" else ""),
            _duration(rule["max_delay_seconds"]),
            f"±{rule['jitter']:.0%}",
        )
    console.print(table)
    say("completed: never retried")


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def print_preflight(report: Preflight) -> None:
    blocked = sum(report.blocked.values())
    say(
        f"preflight: {report.callable} callable, {blocked} blocked, "
        f"{report.final} already final, of {report.contacts} contacts",
    )
    for why, count in report.blocked.items():
        if count:
            say(f"  blocked, {why.replace('_', ' ')}: {count}")
    if report.first_call_at is not None:
        say(f"  first call allowed at {report.first_call_at.isoformat()}")
    say(
        f"  pace: {report.calls_per_hour:g} calls/hour (average call "
        f"{report.average_call_seconds:.0f} s, from {report.average_call_from})",
    )
    if report.callable:
        finish = report.estimated_finish
        say(
            "  estimated finish: "
            + (finish.isoformat() if finish else "not within the schedule's dates")
            + (f" ({escape(report.binding_description)})" if report.binding_description else "")
        )
    for warning in report.warnings:
        warn(warning)
