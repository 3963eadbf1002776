"""What create_app sets up once per process, as every edge reads it from a request."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

if TYPE_CHECKING:
    from api.auth import Caller, Tokens
    from api.console.sessions import Sessions
    from api.health import Metrics
    from api.services.read_audit import ReadAudit
    from domain.ledger import Ledger
    from projections.service import Reports
    from api.writer import Writer
    from projections.tlog import VerifiableLog


def ledger_of(request: Request) -> Ledger:
    return request.app.state.ledger


def writer_of(request: Request) -> Writer:
    return request.app.state.writer


def tokens_of(request: Request) -> Tokens:
    return request.app.state.tokens


def reports_of(request: Request) -> Reports:
    return request.app.state.reports


def log_of(request: Request) -> VerifiableLog:
    return request.app.state.log


def sessions_of(request: Request) -> Sessions:
    return request.app.state.sessions


def metrics_of(request: Request) -> Metrics:
    return request.app.state.metrics


def read_by(request: Request, who: Caller, what: str, subject: str, region: str) -> None:
    """Note a read of a person's data or a report in the access audit."""
    audit: ReadAudit = request.app.state.read_audit
    audit.record(who, what, subject, region, request.client.host if request.client else None)
