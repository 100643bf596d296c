"""When a retry happens: ``max(now + delay, the next moment the contact may be called)``.

The retry policy (:mod:`campaign_engine.campaigns.retry_policy`) decides *whether* to retry
and the delay; this module places the retry in time. A retry that would land at 23:30 lands
when the callee's next window opens instead. It also closes what can no longer be retried:

- the campaign was canceled or has completed (e.g. its end date passed) while the call
  rang: the contact is ``canceled`` with the campaign's reason;
- the schedule leaves no allowed moment after the delay: the contact is ``exhausted``.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from campaign_engine.campaigns.retry_policy import Decision
from campaign_engine.campaigns.window_check import ContactCalendar
from campaign_engine.states import CAMPAIGN_TERMINAL, CampaignState, ContactState

NO_TIME_LEFT = "no allowed calling time left for a retry"


def placed(
    decision: Decision,
    *,
    campaign_state: str | None,
    campaign_reason: str | None,
    calendar: ContactCalendar | None,
    now: datetime,
) -> tuple[Decision, datetime | None]:
    """The decision to apply and, for a retry, its moment (plain: no I/O).

    ``calendar`` None means no calendar is known for the contact: any time is allowed.
    """
    if decision.final_state is not None:
        return decision, None
    if campaign_state is not None and CampaignState(campaign_state) in CAMPAIGN_TERMINAL:
        reason = f"campaign {campaign_state}" + (f": {campaign_reason}" if campaign_reason else "")
        return Decision(ContactState.CANCELED, None, reason), None
    earliest = now + timedelta(seconds=decision.delay_seconds or 0)
    moment = earliest if calendar is None else calendar.next_allowed(earliest)
    if moment is None:
        return Decision(ContactState.EXHAUSTED, None, NO_TIME_LEFT), None
    return decision, moment
