"""``Idempotency-Key``: a POST that creates something, sent again with the same key, gets
the first answer back and creates nothing twice.

The answer is stored in the same transaction as what it created, under a key unique per
caller: two concurrent requests with one key cannot both commit, and the loser answers with
the winner's stored response. The same key with a different request (method, path, query or
body) is refused with 422, since answering it with another request's result would mislead.
An upload's body is streamed to disk, never held, so it is not part of its request's hash;
its answer is stored once the upload is received (the importer never adds a number twice
to a campaign, so even two racing uploads with one key add each contact once).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from starlette.requests import Request
from starlette.responses import Response

from campaign_engine.api.problems import ApiProblem, invalid
from campaign_engine.db.models import IdempotencyKey

if TYPE_CHECKING:
    from campaign_engine.api.registry import Call

HEADER = "Idempotency-Key"
KEY_LIMIT = 255
REPLAYED = "Idempotent-Replayed"


def key_of(request: Request) -> str | None:
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key.strip() or len(key) > KEY_LIMIT:
        raise invalid(f"header.{HEADER}", f"must be 1 to {KEY_LIMIT} characters")
    return key


def request_hash(request: Request, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (request.method, request.url.path, request.url.query):
        digest.update(part.encode() + b"\0")
    digest.update(body)
    return digest.hexdigest()


async def _stored(call: Call, key: str) -> IdempotencyKey | None:
    async with call.runtime.sessions() as session:
        return await session.scalar(
            select(IdempotencyKey).where(
                IdempotencyKey.principal == call.principal.name, IdempotencyKey.key == key
            )
        )


def _replay(stored: IdempotencyKey, digest: str) -> Response:
    if stored.request_hash != digest:
        raise ApiProblem(
            422,
            f"{HEADER} {stored.key!r} was already used with a different request",
            [invalid(f"header.{HEADER}", "already used with a different request").errors[0]],
            kind="idempotency-key-reused",
        )
    return Response(
        stored.body,
        status_code=stored.status_code,
        media_type=stored.media_type,
        headers={REPLAYED: "true"},
    )


async def run_once(
    call: Call, key: str, body: bytes, run: Callable[[], Awaitable[Response]]
) -> Response:
    digest = request_hash(call.request, body)
    stored = await _stored(call, key)
    if stored is not None:
        return _replay(stored, digest)
    call.idempotency = (key, digest)
    try:
        response = await run()
    except IntegrityError:
        # Another request with this key committed first (ours rolled back whole).
        stored = await _stored(call, key)
        if stored is None:
            raise
        return _replay(stored, digest)
    if call.session is None:
        await _store_alone(call, response)
    return response


def _row(call: Call, response: Response) -> IdempotencyKey | None:
    if call.idempotency is None or not 200 <= response.status_code < 300:
        return None
    key, digest = call.idempotency
    return IdempotencyKey(
        principal=call.principal.name,
        key=key,
        request_hash=digest,
        status_code=response.status_code,
        media_type=response.media_type or "application/json",
        body=bytes(response.body).decode(),
    )


async def store_pending(call: Call, response: Response) -> None:
    """Store the answer in the action's own transaction (before it commits)."""
    row = _row(call, response)
    if row is not None and call.session is not None:
        call.session.add(row)
        await call.session.flush()


async def _store_alone(call: Call, response: Response) -> None:
    """For an operation without a transaction of its own (an upload): stored after it."""
    row = _row(call, response)
    if row is None:
        return
    try:
        async with call.runtime.sessions() as session, session.begin():
            session.add(row)
    except IntegrityError:
        pass  # a concurrent twin stored its answer first; the importer never doubles rows
