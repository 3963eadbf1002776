"""The ledger's web process: the HTTP API v1 (../shared/API.md) and the console, over one ledger.

Endpoints are plain `def`: eventsourcing has no async API, so FastAPI runs them in its thread pool.
The API's documentation pages are served from the package (fastapi-offline ships Swagger UI and
ReDoc), since a bureau's network (医保专网) is often closed to the internet.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from api import console, health, logs, problems
from api.auth import Tokens
from api.duties import PROJECTION, VERIFIABLE_LOG, Duty
from api.http import audit, enrollments, imports, log, persons, policies, reports
from api.limits import BodyLimit
from api.services.read_audit import ReadAudit
from api.writer import Writer
from domain.ledger import Ledger
from projections.follower import keep_caught_up
from projections.service import Reports
from projections.tlog import VerifiableLog, follow as follow_log
from projections.witnesses import configured

problems.STATUS.update(unauthenticated=401, forbidden=403, too_large=413)


def create_app(ledger: Ledger | None = None, follow: bool = False, keep_log: bool = True) -> FastAPI:
    """The HTTP API and the console over one ledger. With `follow`, background threads keep the
    report projection and (unless `keep_log` is off) the verifiable log caught up while the app runs
    (`ledger serve`), each in one process per database (api/duties.py); reports and proofs catch up
    when asked in any case."""
    ledger = ledger or Ledger()
    report_service = Reports(ledger.store, ledger.env)
    verifiable_log = VerifiableLog.of(ledger.store, ledger.env)
    witnesses = configured()  # a malformed LEDGER_WITNESSES stops the start, naming it
    if follow and keep_log:
        verifiable_log.signer  # noqa: B018 - a bad key file stops the start, not the first checkpoint
    logs.install()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        duties = []
        if follow:
            duties.append(Duty("projection-follower", PROJECTION, ledger.env,
                               lambda stop: keep_caught_up(report_service.follower, stop)))
            if keep_log:
                duties.append(Duty("verifiable-log", VERIFIABLE_LOG, ledger.env,
                                   lambda stop: follow_log(verifiable_log, stop, witnesses=witnesses)))
        for duty in duties:
            duty.start()
        app.state.duties = duties
        yield
        app.state.read_audit.flush()
        app.state.writer.close()
        for duty in duties:
            duty.stop()

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
    app.state.writer = Writer(ledger)
    app.state.reports = report_service
    app.state.log = verifiable_log
    app.state.read_audit = ReadAudit(ledger.store)
    problems.install(app)
    app.add_middleware(BodyLimit)
    for resource in (persons, enrollments, reports, imports, log, policies, audit):
        app.include_router(resource.router)
    console.install(app)
    metrics = health.Metrics(ledger, report_service, verifiable_log, keep_log)
    app.state.metrics = metrics
    app.state.ready_max_lag = health.max_lag(dict(os.environ))
    app.state.metrics_token = os.environ.get("LEDGER_METRICS_TOKEN", "")
    app.state.metrics_allow = health.allowed_networks(dict(os.environ))
    app.include_router(health.router)
    app.add_middleware(health.RequestMetrics, metrics=metrics)
    return app


def served_app() -> FastAPI:
    """The app of each worker process of `ledger serve --workers N` (uvicorn's factory)."""
    return create_app(Ledger(), follow=True, keep_log=os.environ.get("LEDGER_SERVE_KEEP_LOG", "1") == "1")
