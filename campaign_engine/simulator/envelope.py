"""The API's response envelope, and the one exception that turns into an error envelope.

Vocobase wraps every answer, errors included, as ``{"success": ..., ...}``; the engine's
client parses that shape, so the simulator must never answer any other way — not even for
an unknown route or a wrong method.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

_CODES_BY_STATUS = {
    400: "VALIDATION_ERROR",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    429: "RATE_LIMITED",
    500: "INTERNAL_ERROR",
}


class ApiError(Exception):
    """Raised by a handler to answer with an error envelope."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def ok(data: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse({"success": True, "data": data}, status_code=status)


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"success": False, "error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


async def api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.headers)


async def http_error_handler(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 answers, rewrapped in the API's envelope."""
    assert isinstance(exc, HTTPException)
    code = _CODES_BY_STATUS.get(exc.status_code, "ERROR")
    message = exc.detail or code
    if exc.status_code == 404:
        message = f"no route for {request.method} {request.url.path}"
    return error_response(exc.status_code, code, message, dict(exc.headers or {}))
