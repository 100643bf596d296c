"""Request bodies, limited before they are read: a declared length over the limit is refused
at once (413, nothing read), and a body without one is counted as it arrives and refused the
moment it passes the limit, so no request can make the server hold more than the limit."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from campaign_engine.api.problems import ApiProblem, FieldError


def declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiProblem(400, f"Content-Length is not a number: {raw!r}") from None


def too_large(limit: int, what: str = "body") -> ApiProblem:
    return ApiProblem(
        413,
        f"the {what} is larger than the {limit} bytes allowed",
        [FieldError(field="body", problem=f"larger than {limit} bytes")],
    )


async def read_limited(request: Request, limit: int) -> bytes:
    length = declared_length(request)
    if length is not None and length > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def json_of(raw: bytes) -> Any:
    """The body's JSON; an empty body is an empty object (actions whose fields are optional)."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiProblem(
            422,
            f"the body is not JSON: {exc}",
            [FieldError(field="body", problem=f"not JSON: {exc}")],
        ) from None
    check_text(data, "body")
    return data


def check_text(value: Any, where: str) -> None:
    """Refuse text no database column can hold: a NUL character, or half of a UTF-16
    surrogate pair (JSON's ``\\u0000``, ``\\ud800``), naming where it is."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_text(key, where)
            check_text(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_text(item, f"{where}.{index}")
    elif isinstance(value, str):
        problem = None
        if "\x00" in value:
            problem = "contains a NUL character"
        else:
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                problem = "contains an unpaired surrogate (not valid Unicode text)"
        if problem is not None:
            raise ApiProblem(422, f"{where}: {problem}", [FieldError(field=where, problem=problem)])
