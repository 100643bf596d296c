"""``campaign-engine campaign priority ID N``: a campaign's weight where limits are shared
(see :mod:`campaign_engine.ops.priority`); audited under the operator's login."""

from __future__ import annotations

import typer

from campaign_engine.cli.common import ACTOR_HELP, actor_name, in_session, print_json, settings_from
from campaign_engine.ops.priority import MAX_PRIORITY, set_priority

PRIORITY_HELP = (
    f"Its weight where limits are shared with other campaigns (1-{MAX_PRIORITY}; "
    "default 1: equal shares)."
)


def priority_command(
    ctx: typer.Context,
    campaign_id: str,
    priority: str = typer.Argument(..., help=PRIORITY_HELP),
    actor: str | None = typer.Option(None, "--actor", help=ACTOR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Set a campaign's priority: campaigns sharing a limit get its room in proportion."""
    before, after = in_session(
        settings_from(ctx),
        lambda session: set_priority(session, campaign_id, priority, actor=actor_name(actor)),
    )
    if as_json:
        print_json({"campaign_id": campaign_id, "priority": after, "previous": before})
        return
    typer.echo(f"campaign {campaign_id}: priority {after} (was {before})")
