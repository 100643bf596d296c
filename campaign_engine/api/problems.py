"""Every API error as ``application/problem+json`` (RFC 9457): a type, a title, the status,
a detail a person can act on, and ``errors`` naming each field that is wrong and why."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.responses import JSONResponse

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://campaign-engine.invalid/problems/"

TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Content too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
}


class FieldError(BaseModel):
    """One field that is wrong: where it is (``body.schedule.windows``, ``query.limit``,
    ``header.Idempotency-Key``) and what is wrong with it."""

    field: str
    problem: str


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []


class ApiProblem(Exception):
    """Raised anywhere below an endpoint to answer with this problem."""

    def __init__(
        self, status: int, detail: str, errors: list[FieldError] | None = None, kind: str = ""
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors or []
        self.kind = kind or TITLES.get(status, "error").lower().replace(" ", "-")

    def response(self) -> JSONResponse:
        return problem_response(self.status, self.detail, self.errors, self.kind)


def problem_response(
    status: int,
    detail: str,
    errors: list[FieldError] | None = None,
    kind: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    kind = kind or TITLES.get(status, "error").lower().replace(" ", "-")
    body = Problem(
        type=TYPE_BASE + kind,
        title=TITLES.get(status, "Error"),
        status=status,
        detail=detail,
        errors=errors or [],
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, media_type=MEDIA_TYPE, headers=headers
    )


def field_errors(exc: ValidationError, where: str) -> list[FieldError]:
    """Pydantic's errors, each named by its place (``body.limits.max_concurrent``)."""
    found = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in (where, *error["loc"]) if part != "")
        found.append(FieldError(field=path, problem=_message(error)))
    return found


def _message(error: Any) -> str:
    message = str(error.get("msg", "invalid"))
    return message.removeprefix("Value error, ")


def invalid(field: str, problem: str) -> ApiProblem:
    """A 422 naming one field."""
    return ApiProblem(422, f"{field}: {problem}", [FieldError(field=field, problem=problem)])
