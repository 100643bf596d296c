"""The API envelope: successes, errors and Starlette's own 404/405 all answer the same shape."""

from __future__ import annotations

import json

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from campaign_engine.simulator.envelope import (
    ApiError,
    api_error_handler,
    error_response,
    http_error_handler,
    ok,
)


def decoded(response: JSONResponse) -> object:
    return json.loads(bytes(response.body))


def test_ok_wraps_data_in_a_success_envelope_with_status_200() -> None:
    response = ok({"call_id": "c1"})
    assert response.status_code == 200
    assert decoded(response) == {"success": True, "data": {"call_id": "c1"}}


def test_ok_can_answer_with_another_status() -> None:
    assert ok({}, status=201).status_code == 201


def test_error_response_carries_code_message_and_headers() -> None:
    response = error_response(429, "RATE_LIMITED", "slow down", {"Retry-After": "3"})
    assert response.status_code == 429
    assert decoded(response) == {
        "success": False,
        "error": {"code": "RATE_LIMITED", "message": "slow down"},
    }
    assert response.headers["retry-after"] == "3"


def test_api_error_keeps_its_fields_and_is_an_exception_with_its_message() -> None:
    error = ApiError(404, "NOT_FOUND", "no such call")
    assert (error.status, error.code, error.message, error.headers) == (
        404,
        "NOT_FOUND",
        "no such call",
        {},
    )
    assert str(error) == "no such call"


async def _raise_api_error(request: Request) -> JSONResponse:
    raise ApiError(429, "CONCURRENCY_LIMIT_EXCEEDED", "too many", {"Retry-After": "1"})


async def _raise_http(request: Request) -> JSONResponse:
    raise HTTPException(418, detail="short and stout")


async def _raise_http_without_detail(request: Request) -> JSONResponse:
    raise HTTPException(401, detail="")


async def _fine(request: Request) -> JSONResponse:
    return ok({"fine": True})


def app() -> Starlette:
    return Starlette(
        routes=[
            Route("/api-error", _raise_api_error),
            Route("/teapot", _raise_http),
            Route("/unauthorized", _raise_http_without_detail),
            Route("/fine", _fine, methods=["GET"]),
        ],
        exception_handlers={ApiError: api_error_handler, HTTPException: http_error_handler},
    )


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://sim")


async def test_a_raised_api_error_answers_its_envelope_status_and_headers() -> None:
    async with client() as http:
        response = await http.get("/api-error")
    assert response.status_code == 429
    assert response.json() == {
        "success": False,
        "error": {"code": "CONCURRENCY_LIMIT_EXCEEDED", "message": "too many"},
    }
    assert response.headers["retry-after"] == "1"


async def test_an_unknown_route_answers_not_found_in_the_envelope_naming_the_route() -> None:
    async with client() as http:
        response = await http.post("/calls/nowhere?x=1")
    assert response.status_code == 404
    assert response.json() == {
        "success": False,
        "error": {"code": "NOT_FOUND", "message": "no route for POST /calls/nowhere"},
    }


async def test_a_wrong_method_answers_method_not_allowed_in_the_envelope() -> None:
    async with client() as http:
        response = await http.delete("/fine")
    assert response.status_code == 405
    body = response.json()
    assert body["success"] is False
    assert body["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert body["error"]["message"] == "Method Not Allowed"
    assert "GET" in response.headers["allow"]


async def test_an_http_error_of_an_unmapped_status_gets_a_generic_code() -> None:
    async with client() as http:
        response = await http.get("/teapot")
    assert response.status_code == 418
    assert response.json() == {
        "success": False,
        "error": {"code": "ERROR", "message": "short and stout"},
    }


async def test_an_http_error_without_detail_uses_its_code_as_message() -> None:
    async with client() as http:
        response = await http.get("/unauthorized")
    assert response.status_code == 401
    assert response.json()["error"] == {"code": "UNAUTHORIZED", "message": "UNAUTHORIZED"}


async def test_a_successful_route_is_untouched_by_the_handlers() -> None:
    async with client() as http:
        response = await http.get("/fine")
    assert response.status_code == 200
    assert response.json() == {"success": True, "data": {"fine": True}}
