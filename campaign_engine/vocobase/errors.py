"""What can go wrong when talking to Vocobase, arranged by what the dialer must do about it.

Vocobase has no idempotency key, so after a failed ``POST /calls/start`` the one question
that matters is whether a call might have been placed anyway. Every class answers it with
``maybe_sent``; the tree is shaped around that answer::

    VocobaseError (maybe_sent=True)
     ├── RequestNotSent      never reached Vocobase: connect error/timeout, pool timeout
     ├── AmbiguousError      may have reached it: read/write timeout or error, dropped link
     ├── InvalidResponse     an answer that is not the documented shape (maybe_sent=True)
     └── APIError            Vocobase answered with its error envelope (maybe_sent=False)
          ├── BadRequest     400 VALIDATION_ERROR
          ├── Unauthorized   401
          ├── Forbidden      403 credits, suspended partner, provider not allowed
          ├── NotFound       404
          ├── RateLimited    429 request rate or concurrency; .retry_after, .kind (judged)
          └── ServerError    5xx (maybe_sent=True: it may have acted before failing)

Other 4xx statuses raise ``APIError`` itself. ``is_campaign_fatal`` tells an error that will
fail every contact of a campaign from one that is about a single contact.

No message ever contains the API key: the client redacts it from anything the server says.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import ClassVar, Literal

RateLimitKind = Literal["rate", "concurrency", "unknown"]


class VocobaseError(Exception):
    """Root of the tree; unknown failures are assumed to have maybe placed a call."""

    maybe_sent: ClassVar[bool] = True

    def __init__(self, detail: str, *, method: str, path: str) -> None:
        self.method = method
        self.path = path
        self.detail = detail
        super().__init__(f"{method} {path}: {detail}")


class RequestNotSent(VocobaseError):
    """The request certainly never reached Vocobase, so retrying cannot double a call."""

    maybe_sent: ClassVar[bool] = False


class AmbiguousError(VocobaseError):
    """The request may have been acted on; only reconciliation can tell."""

    maybe_sent: ClassVar[bool] = True


class InvalidResponse(VocobaseError):
    """Something answered, but not in the documented shape: a proxy page, bad JSON, a
    2xx missing fields. A 2xx that fails validation probably did place the call."""

    maybe_sent: ClassVar[bool] = True

    def __init__(
        self, detail: str, *, method: str, path: str, status_code: int, body_excerpt: str
    ) -> None:
        self.status_code = status_code
        self.body_excerpt = body_excerpt
        super().__init__(f"HTTP {status_code}: {detail}", method=method, path=path)


class APIError(VocobaseError):
    """Vocobase refused with its ``{"success": false, "error": {...}}`` envelope."""

    maybe_sent: ClassVar[bool] = False

    def __init__(
        self, *, method: str, path: str, status_code: int, code: str | None, message: str
    ) -> None:
        self.status_code = status_code
        self.code = code
        self.message = message
        detail = f"HTTP {status_code} {code or '-'}: {message}"
        super().__init__(detail, method=method, path=path)

    @property
    def campaign_fatal(self) -> bool:
        """Whether retrying with any other contact would fail the same way."""
        return is_campaign_fatal(self)


class BadRequest(APIError):
    """400: a field was rejected; which field decides who is to blame."""


class Unauthorized(APIError):
    """401: the API key is wrong or revoked."""


class Forbidden(APIError):
    """403: out of credits, partner suspended, or provider not allowed."""


class NotFound(APIError):
    """404: the agent, connection or call does not exist."""


class RateLimited(APIError):
    """429: Vocobase uses one status for two limits, and its code and message are not
    documented: ``kind`` starts ``unknown`` and is judged from the engine's own counts
    (:mod:`campaign_engine.limits.which_limit`), never from the words.

    ``retry_after`` is in seconds, from a ``Retry-After`` header when one was sent.
    """

    def __init__(
        self,
        *,
        method: str,
        path: str,
        status_code: int = 429,
        code: str | None,
        message: str,
        retry_after: float | None = None,
        kind: RateLimitKind | None = None,
    ) -> None:
        super().__init__(
            method=method, path=path, status_code=status_code, code=code, message=message
        )
        self.retry_after = retry_after
        self.kind: RateLimitKind = kind if kind is not None else "unknown"


class ServerError(APIError):
    """5xx: the server may have placed the call before it failed."""

    maybe_sent: ClassVar[bool] = True


_STATUS_CLASSES: dict[int, type[APIError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
}


def api_error_for(
    *,
    method: str,
    path: str,
    status_code: int,
    code: str | None,
    message: str,
    retry_after: float | None = None,
) -> APIError:
    """Pick the class by status, not by code: the codes are only partly documented."""
    if status_code == 429:
        return RateLimited(
            method=method, path=path, code=code, message=message, retry_after=retry_after
        )
    cls: type[APIError] = ServerError if status_code >= 500 else APIError
    cls = _STATUS_CLASSES.get(status_code, cls)
    return cls(method=method, path=path, status_code=status_code, code=code, message=message)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    Anything unparsable gives ``None`` rather than an error: the header is a hint, and
    a bad hint must not hide the 429 itself.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


_PROVIDER_WORDS = re.compile(r"provider|telephony")
_PROVIDER_SETUP_WORDS = re.compile(r"allow|configur|enabl|credential|permit")
_CONTACT_WORDS = re.compile(r"to_number|to number|phone|\bnumber\b|e\.?164|variable|destination")
_ONE_CALL_PATH = re.compile(r"^/calls/(?!start$|concurrency$)[^/]+$")


def is_campaign_fatal(exc: APIError) -> bool:
    """True when the error would recur for every contact of the campaign, so the campaign
    should pause rather than mark this contact failed.

    - 401 and 403 are about the key or the partner (credits, suspension, provider): fatal.
    - 404 is fatal when it is the agent (or connection) that is missing, not when it is one
      call looked up by id, nor when the message blames the number.
    - 400 is fatal when the provider is not allowed or not configured; it is about the
      contact when the message names ``to_number``, the phone number or ``variables``;
      other 400s naming the provider, connection or agent are fatal too.
    - A 400 that names nothing recognisable counts as fatal. The engine validates numbers
      and variables before sending, so a vague refusal is more likely systemic, and a
      wrongly paused campaign is cheaper than every contact wrongly marked failed.
    - Everything else (429, 5xx, other 4xx) is transient or unknown: not fatal.
    """
    text = f"{exc.code or ''} {exc.message}".lower()
    if isinstance(exc, Unauthorized | Forbidden):
        return True
    if isinstance(exc, NotFound):
        if "agent" in text:
            return True
        return not (_ONE_CALL_PATH.match(exc.path) or _CONTACT_WORDS.search(text))
    if isinstance(exc, BadRequest):
        if _PROVIDER_WORDS.search(text) and _PROVIDER_SETUP_WORDS.search(text):
            return True
        return not _CONTACT_WORDS.search(text)
    return False
