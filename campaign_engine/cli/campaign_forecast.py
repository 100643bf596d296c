"""``campaign-engine campaign forecast ID [--days N] [--json]``: who will be called when, per
zone and local day, and what holds the rest — without dialing anything.

Planned from the engine's clock (``campaign_engine.clock``) and the limits in force: the
partner concurrency Vocobase reported (kept in Redis by the running engine), else the
configured one (``"auto"``: the documented 5).
"""

from __future__ import annotations

import typer
from rich.markup import escape
from rich.table import Table

from campaign_engine.campaigns.forecast import Forecast, forecast
from campaign_engine.campaigns.windows import zone
from campaign_engine.cli.campaign_views import say
from campaign_engine.cli.common import console, db_session, print_json, run, settings_from
from campaign_engine.config import Settings
from campaign_engine.db.models import utcnow
from campaign_engine.runtime import partner_concurrency


async def _forecast(settings: Settings, campaign_id: str, days: int) -> Forecast:
    concurrency = await partner_concurrency(settings)
    async with db_session(settings) as session:
        return await forecast(
            session,
            campaign_id,
            settings.limits,
            utcnow(),
            days=days,
            partner_concurrency=concurrency,
            polling_share=settings.scheduler.reconcile_budget_share,
            daily_cap=settings.compliance.max_attempts_per_number_per_day,
        )


def forecast_command(
    ctx: typer.Context,
    campaign_id: str,
    days: int = typer.Option(7, "--days", min=1, max=366, help="How many days to plan."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Per time zone and day: how many contacts will be called when, and what blocks the
    rest (windows, caps, blackout days, schedule end, do-not-call list). Dials nothing."""
    settings = settings_from(ctx)
    report = run(lambda: _forecast(settings, campaign_id, days))
    if as_json:
        print_json(report.to_dict())
        return
    print_forecast(report)


def print_forecast(report: Forecast) -> None:
    contacts = report.contacts
    say(
        f"forecast for {report.days} days from {report.now:%Y-%m-%d %H:%M} UTC: "
        f"{contacts['waiting']} waiting, {contacts['in_flight']} in flight, "
        f"{contacts['final']} final, of {contacts['total']} contacts"
    )
    table = Table("zone", "local date", "calls", "first (local)", "last (local)", "note")
    for found in report.zones:
        tz = zone(found.zone)
        for day in found.days:
            table.add_row(
                found.zone,
                day.day.isoformat(),
                str(round(day.calls)),
                f"{day.first_at.astimezone(tz):%H:%M}" if day.first_at else "",
                f"{day.last_at.astimezone(tz):%H:%M}" if day.last_at else "",
                escape(day.note or ""),
            )
        if found.after_days:
            table.add_row(found.zone, "later", str(found.after_days), "", "", "after these days")
    console.print(table)
    for why, count in report.blocked.items():
        if count:
            say(f"  blocked, {why.replace('_', ' ')}: {count}")
    if report.held["daily_cap"]:
        say(f"  held to their next local day, daily cap reached: {report.held['daily_cap']}")
    estimate = report.estimate
    say(
        f"  estimated finish: {estimate['finish'] or 'not within the schedule'} "
        f"({escape(estimate['description'])})"
    )


def register(app: typer.Typer) -> None:
    app.command("forecast")(forecast_command)
