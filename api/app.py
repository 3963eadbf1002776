"""The ledger's web process: the HTTP API v1 (../shared/API.md) and the console, over one ledger.

Endpoints are plain `def`: eventsourcing has no async API, so FastAPI runs them in its thread pool.
The API's documentation pages are served from the package (fastapi-offline ships Swagger UI and
ReDoc), since a bureau's network (医保专网) is often closed to the internet.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api import console, logs, problems
from api.auth import Tokens
from api.http import enrollments, imports, persons, reports
from api.limits import BodyLimit
from domain.ledger import Ledger
from projections.follower import Background
from projections.service import Reports

problems.STATUS.update(unauthenticated=401, forbidden=403, too_large=413)


def create_app(ledger: Ledger | None = None, follow: bool = False) -> FastAPI:
    """The HTTP API and the console over one ledger. With `follow`, a background follower keeps the
    report projection caught up while the app runs (`ledger serve`); reports catch up in any case."""
    ledger = ledger or Ledger()
    report_service = Reports(ledger.store, ledger.env)
    logs.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        follower = Background(report_service.follower) if follow else None
        if follower:
            follower.start()
        yield
        if follower:
            follower.stop()

    app = FastAPIOffline(
        lifespan=lifespan,
        title="Enrollment ledger API",
        version="1",
        description="Resident medical insurance (城乡居民基本医疗保险) enrollment ledger. Errors are RFC 9457 "
        "problem details (application/problem+json). Money is yuan as a string with two decimals.",
        responses={401: problems.PROBLEM_RESPONSES[401], 400: problems.PROBLEM_RESPONSES[400]},
    )
    app.state.ledger = ledger
    app.state.tokens = Tokens(ledger)
    app.state.reports = report_service
    problems.install(app)
    app.add_middleware(BodyLimit)
    for resource in (persons, enrollments, reports, imports):
        app.include_router(resource.router)
    console.install(app)
    return app
