"""The answer to an operator's "call now" (retry now, edit and call again, requeue): now,
ahead of the backlog — or, when the callee's window does not allow it, when it will be."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class CallNow:
    """One contact called again. ``held`` says why not now (its window is closed, its
    campaign does not run); ``due_at`` is when it will be called then (``None`` with
    ``held``: no moment is known — no allowed one is left, or the campaign is stopped)."""

    contact_id: int
    from_state: str
    due_at: datetime | None
    held: str | None = None

    @property
    def now(self) -> bool:
        return self.held is None

    def when(self) -> str:
        """In words, for the CLI and the console."""
        if self.now:
            return "is due now, called ahead of the queue"
        if self.due_at is None:
            return f"is not called now: {self.held}"
        return f"will be called at {self.due_at.isoformat(timespec='seconds')} ({self.held})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "contact_id": self.contact_id,
            "from_state": self.from_state,
            "now": self.now,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "held": self.held,
        }


def summary(answers: Sequence[CallNow]) -> str:
    """Many contacts called again: ``requeued N``, then those not called now: when, or why."""
    line = f"requeued {len(answers)}"
    later = sorted(a.due_at for a in answers if not a.now and a.due_at is not None)
    unknown = sorted({a.held for a in answers if not a.now and a.due_at is None and a.held})
    if later:
        line += (
            f"; {len(later)} when their window opens (the first at "
            f"{later[0].isoformat(timespec='seconds')})"
        )
    if unknown:
        count = sum(1 for answer in answers if not answer.now and answer.due_at is None)
        line += f"; {count} not now: {', '.join(unknown)}"
    return line
