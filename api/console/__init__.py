"""The console: screens for bureau staff, township collectors and auditors at /console.

Served by the same process as the API, rendered on the server from Jinja2 templates, with one
stylesheet and no script: every asset ships in the package, and the Content-Security-Policy lets
the browser load nothing from anywhere else.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from api.console import views
from api.console.sessions import Sessions

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none';"
       " base-uri 'none'")
HEADERS = [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
           (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]


class ConsoleHeaders:
    """Security headers on every /console answer (pure ASGI, so streamed answers get them too)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/console"):
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def install(app: FastAPI) -> None:
    app.state.sessions = Sessions(app.state.ledger.store)
    app.mount("/console/static", StaticFiles(directory=Path(__file__).parent / "static"), name="console-static")
    app.include_router(views.router)
    app.add_middleware(ConsoleHeaders)
    app.add_exception_handler(views.SignedOut, views.signed_out_page)  # type: ignore[arg-type]

    def page(request: Request, status: int, detail: str, field: str | None):
        return views.error_page(request, status, detail, field)

    problems.PAGES["/console"] = page
