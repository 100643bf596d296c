"""``campaign-engine notifications list|redrive``: the outbox, seen and re-driven by hand.

A notification goes ``dead`` after its last try (the operator's endpoint kept failing);
once the endpoint is fixed, ``redrive`` puts dead ones back with a fresh try budget and the
delivery loop (in the scheduler process) sends them again.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from campaign_engine.cli.common import console, db_session, fail, print_json, run, settings_from
from campaign_engine.db.models import Notification, utcnow
from campaign_engine.notifications import outbox
from campaign_engine.notifications.payload import EVENTS, iso
from campaign_engine.states import OutboxStatus

app = typer.Typer(no_args_is_help=True)
_STATUSES = tuple(status.value for status in OutboxStatus)


def _row(item: Notification) -> dict[str, Any]:
    return {
        "id": item.id,
        "event": EVENTS.get(item.kind, item.kind),
        "campaign_id": item.campaign_id,
        "contact_id": item.contact_id,
        "attempt_id": item.attempt_id,
        "status": item.status,
        "tries": item.tries,
        "next_try_at": iso(item.next_try_at) if item.status == OutboxStatus.PENDING else None,
        "last_error": item.last_error,
        "created_at": iso(item.created_at),
        "delivered_at": iso(item.delivered_at),
    }


@app.command("list")
def list_notifications(
    ctx: typer.Context,
    dead: bool = typer.Option(False, "--dead", help="Only the dead-letter list."),
    status: str | None = typer.Option(
        None, "--status", help=f"Only this status: {', '.join(_STATUSES)}."
    ),
    campaign_id: str | None = typer.Option(None, "--campaign", help="Only this campaign."),
    limit: int = typer.Option(100, "--limit", min=1, help="At most this many, newest first."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List notifications, newest first, with their tries and last error."""
    if dead and status not in (None, OutboxStatus.DEAD):
        fail("--dead and --status disagree")
    wanted = OutboxStatus.DEAD.value if dead else status
    if wanted is not None and wanted not in _STATUSES:
        fail(f"unknown status {wanted!r}; expected one of {', '.join(_STATUSES)}")
    settings = settings_from(ctx)

    async def load() -> tuple[list[dict[str, Any]], dict[str, int]]:
        async with db_session(settings) as session:
            found = await outbox.list_notifications(
                session, status=wanted, campaign_id=campaign_id, limit=limit
            )
            counts = await outbox.count_by_status(session, campaign_id)
            return [_row(item) for item in found], counts

    rows, counts = run(load)
    if as_json:
        print_json({"counts": counts, "notifications": rows})
        return
    table = Table("id", "event", "contact", "status", "tries", "last error")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["event"],
            str(row["contact_id"]),
            row["status"],
            str(row["tries"]),
            row["last_error"] or "",
        )
    console.print(table)
    console.print(", ".join(f"{name}: {count}" for name, count in counts.items()))


@app.command("redrive")
def redrive(
    ctx: typer.Context,
    ids: list[int] = typer.Option(
        [], "--id", help="A dead notification to send again (repeatable)."
    ),
    all_dead: bool = typer.Option(False, "--all-dead", help="Every dead notification."),
    campaign_id: str | None = typer.Option(
        None, "--campaign", help="With --all-dead: only this campaign's."
    ),
) -> None:
    """Send dead notifications again, each with a fresh budget of tries."""
    if bool(ids) == all_dead:
        fail("give either --id N (one or more) or --all-dead")
    settings = settings_from(ctx)

    async def requeue() -> int:
        async with db_session(settings) as session:
            return await outbox.redrive(
                session, ids=ids or None, campaign_id=campaign_id, now=utcnow()
            )

    moved = run(requeue)
    if ids and moved < len(ids):
        console.print(f"re-driven {moved} of {len(ids)} (only dead notifications move)")
    else:
        console.print(f"re-driven {moved}")
