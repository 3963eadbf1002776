"""RFC 9457 problem details for every error the API returns, FastAPI's own included."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import LedgerError

log = logging.getLogger("ledger.api")

PROBLEM = "application/problem+json"
STATUS = {"invalid": 400, "not_found": 404, "conflict": 409, "rule": 422, "refused": 422}
TITLES = {
    400: "Malformed request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflicts with the ledger",
    413: "Request body too large",
    422: "Refused by a rule",
    500: "Internal error",
}


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []


def problem(status: int, detail: str, *, rule: str | None = None, errors: list[dict[str, str]] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://ledger.example/problems/{rule or status}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "errors": errors or [],
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or str(loc[-1] if loc else "body")


# Paths answered for people rather than programs (the console): path prefix -> a function that
# renders (request, status, detail, field) as a page instead of problem details.
PAGES: dict[str, Callable[[Request, int, str, str | None], Response]] = {}


def _page(request: Request, status: int, detail: str, field: str | None = None) -> Response | None:
    for prefix, render in PAGES.items():
        if request.url.path.startswith(prefix):
            return render(request, status, detail, field)
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(LedgerError)
    async def ledger_error(request: Request, exc: LedgerError) -> Response:
        status = STATUS.get(exc.kind, 422)
        errors = [{"field": exc.field, "message": exc.message}] if exc.field else []
        return _page(request, status, exc.message, exc.field) or problem(status, str(exc), rule=exc.rule, errors=errors)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [{"field": _field(tuple(e.get("loc", ()))), "message": e.get("msg", "invalid")} for e in exc.errors()]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "the request is malformed"
        return _page(request, 400, detail) or problem(400, detail, rule="malformed", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such resource: {request.url.path}"
        if exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return _page(request, exc.status_code, detail) or problem(exc.status_code, detail,
                                                                   headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:  # pragma: no cover - last resort
        # The person at the counter sees a plain sentence; the operator's log keeps the cause.
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        detail = "the ledger failed to answer; nothing was written by this request"
        return _page(request, 500, detail) or problem(500, detail, rule="internal")


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "description": TITLES[status], "content": {PROBLEM: {}}}
    for status in (400, 401, 403, 404, 409, 413, 422)
}
