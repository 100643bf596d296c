"""What a finished call means for the campaign: one outcome class per attempt.

Vocobase reports a call ``status`` (completed, failed, no_answer, busy, canceled) and, when
it knows more, a ``disposition`` (voicemail, user_hangup_no_speech, blocked, ...). Voicemail
is a disposition of a *completed* call, so the disposition wins whenever it is present.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    COMPLETED = "completed"
    VOICEMAIL = "voicemail"
    USER_HANGUP_NO_SPEECH = "user_hangup_no_speech"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    FAILED = "failed"  # carrier or technical failure
    CANCELED = "canceled"
    BLOCKED = "blocked"
    REJECTED = "rejected"  # Vocobase refused to start the call for this number (400)
    UNKNOWN = "unknown"  # the call happened but its outcome could not be learned


_BY_DISPOSITION = {
    "completed": Outcome.COMPLETED,
    "voicemail": Outcome.VOICEMAIL,
    "user_hangup_no_speech": Outcome.USER_HANGUP_NO_SPEECH,
    "no_answer": Outcome.NO_ANSWER,
    "busy": Outcome.BUSY,
    "canceled": Outcome.CANCELED,
    "blocked": Outcome.BLOCKED,
    "failed": Outcome.FAILED,
}

_BY_STATUS = {
    "completed": Outcome.COMPLETED,
    "failed": Outcome.FAILED,
    "no_answer": Outcome.NO_ANSWER,
    "busy": Outcome.BUSY,
    "canceled": Outcome.CANCELED,
}

FINAL_CALL_STATUSES = frozenset(_BY_STATUS)

# Final statuses whose outcome class no disposition refines: the dispositions that change a
# class (voicemail, user_hangup_no_speech: status completed; blocked: status failed) come
# with calls that connected or failed, never with one nobody answered, busy or canceled.
# Such a call's outcome is known from polling alone; the webhook can only add details.
SETTLED_BY_STATUS = frozenset({"no_answer", "busy", "canceled"})


def settled_by_status(status: str | None) -> bool:
    return status is not None and status.lower() in SETTLED_BY_STATUS


def classify(status: str | None, disposition: str | None) -> Outcome:
    """The outcome class of a finished call; unknown words give ``UNKNOWN``, never a guess."""
    if disposition:
        by_disposition = _BY_DISPOSITION.get(disposition.lower())
        if by_disposition is not None:
            return by_disposition
    if status:
        return _BY_STATUS.get(status.lower(), Outcome.UNKNOWN)
    return Outcome.UNKNOWN


def is_final_call_status(status: str | None) -> bool:
    """True when Vocobase says the call is over (pending/ringing/in_progress are not)."""
    return status is not None and status.lower() in FINAL_CALL_STATUSES
