"""What the bureau's monitoring asks of the process: alive (/healthz), ready to serve (/readyz), and
its figures for Prometheus (/metrics).

/healthz and /readyz answer anyone (a load balancer has no token) and say nothing but the verdict;
why a process is not ready goes to the operator's log. /metrics is served to the monitoring system
only: with the bearer token of LEDGER_METRICS_TOKEN, or from an address of LEDGER_METRICS_ALLOW
(CIDRs, comma-separated; this machine alone by default). The figures come from prometheus-client,
one registry per app, so several apps in one process (the tests) never share counts.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.state import metrics_of
from domain.errors import Forbidden

if TYPE_CHECKING:
    from domain.ledger import Ledger
    from projections.service import Reports
    from projections.tlog import VerifiableLog

log = logging.getLogger("ledger.health")
router = APIRouter(include_in_schema=False)

# Ready while the reports and the log's tree trail the ledger by at most this many events: a
# bulk load or a rebuild runs far behind, and the balancer should send reads elsewhere meanwhile.
DEFAULT_MAX_LAG = 10_000
DEFAULT_ALLOW = "127.0.0.1/32,::1/128"


class Metrics:
    """The process's figures. Lags are read from the database when Prometheus scrapes."""

    def __init__(self, ledger: Ledger, reports: Reports, verifiable_log: VerifiableLog, keep_log: bool):
        self.ledger, self.reports, self.log, self.keep_log = ledger, reports, verifiable_log, keep_log
        self.registry = CollectorRegistry()
        self.requests = Counter("ledger_http_requests", "HTTP requests answered, by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("ledger_http_request_seconds", "Time to answer, by route", ["method", "route"],
                                 registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.batch = Histogram("ledger_group_commit_events", "Events written per group-commit transaction",
                               registry=self.registry, buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 1024))
        self.import_rows = Counter("ledger_import_rows", "Rows of imported collection files, by outcome",
                                   ["outcome"], registry=self.registry)
        self.registry.register(_Lags(self))
        ledger.committer.on_batch = self.batch.observe

    def lags(self) -> tuple[int, int, int | None]:
        """(the ledger's last position, the reports' lag, the log tree's lag or None when not kept)."""
        head = self.ledger.store.recorder.max_notification_id() or 0
        projection = max(head - self.reports.views.position(), 0)
        tree = max(head - self.log.tables.state()[1], 0) if self.keep_log else None
        return head, projection, tree

    def counted(self, outcomes: dict[str, int]) -> None:
        for outcome, n in outcomes.items():
            if n:
                self.import_rows.labels(outcome).inc(n)


class _Lags:
    def __init__(self, metrics: Metrics):
        self.metrics = metrics

    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            head, projection, tree = self.metrics.lags()
        except Exception:  # noqa: BLE001 - a scrape during an outage reports what it can
            log.warning("the database did not answer the metrics' lag query", exc_info=True)
            return
        yield GaugeMetricFamily("ledger_log_position", "The ledger's last event position", value=head)
        yield GaugeMetricFamily("ledger_projection_lag_events", "Events recorded and not yet in the reports",
                                value=projection)
        if tree is not None:
            yield GaugeMetricFamily("ledger_log_tree_lag_events", "Events recorded and not yet in the verifiable log",
                                    value=tree)


class RequestMetrics:
    """Counts and times every request by its route's template (never its path: a path holds an
    identity number, and would make a series per person). Pure ASGI, so streamed answers count."""

    def __init__(self, app: ASGIApp, metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def noted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, noted)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)


def max_lag(env: dict[str, str]) -> int:
    text = env.get("LEDGER_READY_MAX_LAG", "")
    return int(text) if text.isdigit() else DEFAULT_MAX_LAG


def allowed_networks(env: dict[str, str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """LEDGER_METRICS_ALLOW, read once at start: a typo there stops the start, naming it."""
    text = env.get("LEDGER_METRICS_ALLOW", DEFAULT_ALLOW)
    try:
        return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()]
    except ValueError as e:
        raise SystemExit(f"LEDGER_METRICS_ALLOW: {e}; write networks like 10.0.0.0/8,127.0.0.1/32") from None


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is alive and answering."""
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> Response:
    """The database answers and the reports and the log's tree are caught up within the bound."""
    metrics = metrics_of(request)
    try:
        head, projection, tree = metrics.lags()
    except Exception:  # noqa: BLE001 - any failure to reach the database is "not ready"
        log.warning("not ready: the database did not answer", exc_info=True)
        return JSONResponse({"status": "not_ready"}, 503)
    bound = request.app.state.ready_max_lag
    behind = [f"{name} {lag} events behind (bound {bound})" for name, lag in
              (("the reports are", projection), ("the log's tree is", tree)) if lag is not None and lag > bound]
    if behind:
        log.warning("not ready: %s, at position %s", "; ".join(behind), head)
        return JSONResponse({"status": "not_ready"}, 503)
    return JSONResponse({"status": "ready"})


@router.get("/metrics")
def metrics_page(request: Request) -> Response:
    metrics = metrics_of(request)
    token = request.app.state.metrics_token
    sent = request.headers.get("authorization", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and any(address in net for net in request.app.state.metrics_allow):
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
    raise Forbidden("the metrics are for the monitoring system: send its token (LEDGER_METRICS_TOKEN) or scrape"
                    " from an address LEDGER_METRICS_ALLOW names", "Authorization", "metrics_guard")
