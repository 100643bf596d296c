"""The claims of a worker that was cut off: read from its log, judged from the database.

A worker records each claim it commits as a state-log line (entity ``attempt``, state
``dialing``, with the attempt's id). Those it made shortly before its link went down, or
while it was down, are the ones whose start request or result may have been cut off; each
must end settled (by the worker once it is back, or by the reconciler), none left open.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

CLAIMED_STATE = "dialing"


def claims_between(lines: Iterable[str], since: datetime, until: datetime) -> list[int]:
    """Ids of attempts claimed (logged ``dialing``) within ``[since, until]``; lines that
    are not JSON state-log lines are skipped."""
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        if entry.get("entity") != "attempt" or entry.get("state") != CLAIMED_STATE:
            continue
        moment = datetime.fromisoformat(str(entry.get("ts")))
        if since <= moment <= until and isinstance(entry.get("attempt_id"), int):
            found.append(int(entry["attempt_id"]))
    return found
