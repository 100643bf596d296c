"""A campaign's priority: its weight where limits are shared with other campaigns.

Campaigns sharing a limit (the API key's rate, the partner's concurrency, a provider's)
get its room in proportion to their priorities; at the default of 1 each, equal shares.
Changing it is an operator action, audited like the others, from the CLI or the console;
the scheduler reads it at its next dispatch.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from campaign_engine.db.models import Campaign
from campaign_engine.journal.audit import record

DEFAULT_PRIORITY = 1
MAX_PRIORITY = 1000


def checked_priority(value: int | str) -> int:
    """A priority from the CLI or a form: a whole number from 1 to ``MAX_PRIORITY``."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(
            f"priority must be a whole number from 1 to {MAX_PRIORITY}, got {value!r}"
        ) from None
    if not 1 <= number <= MAX_PRIORITY:
        raise ValueError(f"priority must be from 1 to {MAX_PRIORITY}, got {number}")
    return number


async def set_priority(
    session: AsyncSession, campaign_id: str, priority: int | str, *, actor: str
) -> tuple[int, int]:
    """Set the campaign's priority (audited); its priority before and after."""
    after = checked_priority(priority)
    campaign = await session.get(Campaign, campaign_id, with_for_update=True)
    if campaign is None:
        raise LookupError(f"campaign {campaign_id} not found")
    before = campaign.priority
    campaign.priority = after
    await record(
        session,
        actor=actor,
        action="priority",
        target_type="campaign",
        target_id=campaign_id,
        details={"from": before, "to": after},
    )
    return before, after
