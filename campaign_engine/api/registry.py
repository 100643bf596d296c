"""The API's operations, declared once: method, path, scope, and the pydantic models of the
query, the body and the answer. The same declaration builds the Starlette route (token check,
scope check, size-limited body, validation, idempotency, problem details) and the operation in
the OpenAPI document (:mod:`campaign_engine.api.openapi`), so the two cannot disagree.

Why not a library: the maintained ones that do this for Starlette (spectree; Litestar and
FastAPI as whole frameworks) answer validation errors in their own format, not RFC 9457
problem details, and read request bodies whole; this API needs problem details naming every
field, idempotent creation in the action's own transaction, and uploads streamed to disk.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, get_origin

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from campaign_engine.api import body as bodies
from campaign_engine.api import idempotency
from campaign_engine.api.auth import authenticate
from campaign_engine.api.errors import as_problem
from campaign_engine.api.problems import ApiProblem, field_errors
from campaign_engine.ops.tokens import NAME_PATTERN, Principal, Scope
from campaign_engine.runtime import Runtime

Endpoint = Callable[["Call"], Awaitable[Any]]
_CONVERTOR = re.compile(r"\{(\w+)(?::\w+)?\}")
BIGGEST_ID = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=BIGGEST_ID)]
# What each path parameter may be: ids are UUIDs or numbers, token names their own pattern.
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "campaign_id": {"type": "string", "format": "uuid"},
    "upload_id": {"type": "string", "format": "uuid"},
    "contact_id": {"type": "integer", "minimum": 1, "maximum": BIGGEST_ID},
    "name": {"type": "string", "pattern": f"^{NAME_PATTERN}$"},
}


@dataclass
class Call:
    """One request, checked: who makes it, its validated query and body, its path values,
    and (for transactional operations) the session whose transaction the action runs in."""

    request: Request
    runtime: Runtime
    principal: Principal
    path: dict[str, Any]
    query: Any = None
    body: Any = None
    session: AsyncSession | None = None
    after_commit: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    idempotency: tuple[str, str] | None = None
    """(key, hash of the request) when the caller sent an ``Idempotency-Key``."""

    @property
    def db(self) -> AsyncSession:
        if self.session is None:
            raise RuntimeError("this operation runs without a transaction of its own")
        return self.session

    @property
    def actor(self) -> str:
        return self.principal.name


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    """Starlette form (``/contacts/{contact_id:int}``); the document drops the convertors."""
    endpoint: Endpoint
    scope: Scope
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: Any = None
    """The answer's type (a model, ``list[Model]``); None for no JSON answer."""
    status: int = 200
    creates: bool = False
    """Creates something: honours ``Idempotency-Key``."""
    transactional: bool = True
    raw_body: tuple[str, ...] = ()
    """Media types of a body the endpoint streams itself (uploads), not size-limited here."""
    produces: tuple[str, ...] = ()
    """Media types of a non-JSON answer (exports)."""
    description: str = ""

    @property
    def document_path(self) -> str:
        return _CONVERTOR.sub(r"{\1}", self.path)

    @property
    def operation_id(self) -> str:
        return self.endpoint.__name__.strip("_")

    def path_parameters(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, JSON schema) of each path parameter."""
        return [
            (m.group(1), PATH_SCHEMAS.get(m.group(1), {"type": "string"}))
            for m in _CONVERTOR.finditer(self.path)
        ]


def _path_values(request: Request) -> dict[str, Any]:
    """The path's values; an id no row can have (past 64 bits) is simply not found."""
    values = dict(request.path_params)
    for name, value in values.items():
        if isinstance(value, int) and not 0 < value <= BIGGEST_ID:
            raise ApiProblem(404, f"{name} {value} not found")
    return values


def _query_values(request: Request, model: type[BaseModel]) -> dict[str, Any]:
    params = request.query_params
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in params:
            continue
        is_list = get_origin(info.annotation) is list or "list[" in str(info.annotation)
        values[key] = params.getlist(key) if is_list else params[key]
    bodies.check_text(values, "query")
    return values


def _validate(model: type[BaseModel], data: Any, where: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc, where)
        detail = "; ".join(f"{e.field}: {e.problem}" for e in errors)
        raise ApiProblem(422, detail, errors) from None


def _serialize(op: Operation, result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if op.response is None:
        return Response(status_code=204 if result is None else op.status)
    content = TypeAdapter(op.response).dump_json(result)
    return Response(content, status_code=op.status, media_type="application/json")


def route(op: Operation) -> Route:
    """The Starlette route that serves ``op``."""

    async def handle(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            principal = await authenticate(request, runtime, op.scope)
            call = Call(request, runtime, principal, _path_values(request))
            if op.query is not None:
                call.query = _validate(op.query, _query_values(request, op.query), "query")
            raw = b""
            if op.body is not None:
                raw = await bodies.read_limited(request, runtime.settings.server.max_body_bytes)
                call.body = _validate(op.body, bodies.json_of(raw), "body")
            key = idempotency.key_of(request) if op.creates else None
            if key is not None:
                return await idempotency.run_once(call, key, raw, lambda: _run(op, call))
            return await _run(op, call)
        except Exception as exc:
            problem = as_problem(exc)
            if problem is None:
                raise
            return problem.response()

    return Route(op.path, handle, methods=[op.method], name=op.operation_id)


async def _run(op: Operation, call: Call) -> Response:
    """The endpoint, in its own transaction when it has one; work to do after the commit
    (taking dial jobs out of Redis) runs only once the change is committed."""
    if not op.transactional:
        return _serialize(op, await op.endpoint(call))
    async with call.runtime.sessions() as session, session.begin():
        call.session = session
        response = _serialize(op, await op.endpoint(call))
        await idempotency.store_pending(call, response)
    for later in call.after_commit:
        await later()
    return response
