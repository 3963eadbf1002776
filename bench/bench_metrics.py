"""What the request metrics cost a payment (not a test): python bench/bench_metrics.py [--requests 20000]

The request-metrics middleware (api/health.py) around an ASGI app that answers at once, against
the same app bare, alternating in one process: the difference is the middleware's own cost per
request. Beside it, a durable payment's time through the whole app (SQLite, in-process client),
so the cost is read as a share of a payment. Figures go to bench/RESULTS.md ("Request metrics").
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import machine, write_section  # noqa: E402


async def _bare(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 201, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


def _per_request(app, n: int) -> float:
    async def noop(message) -> None:
        return None

    async def receive():
        return {"type": "http.request", "body": b""}

    route = type("Route", (), {"path": "/v1/payments"})()

    async def run() -> float:
        started = time.perf_counter()
        for _ in range(n):
            await app({"type": "http", "method": "POST", "path": "/v1/payments", "route": route}, receive, noop)
        return (time.perf_counter() - started) / n

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--payments", type=int, default=500)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.auth import Tokens
    from api.health import RequestMetrics
    from domain.ledger import Actor, Ledger
    from tests.conftest import make_id

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(Path(tmp) / "l.db")})
        app = create_app(ledger)
        wrapped = RequestMetrics(_bare, app.state.metrics)
        costs = []
        for _ in range(5):  # alternating, so drift of the machine touches both alike
            costs.append(_per_request(wrapped, args.requests) - _per_request(_bare, args.requests))
        cost = statistics.median(costs)
        clerk = Actor("bench", "collector", "P-1")
        ids = [make_id(date(1960, 1, 1) + timedelta(days=i)) for i in range(args.payments)]
        for idn in ids:
            ledger.register(clerk, id_number=idn, name="张三", region="500110001001")
            ledger.enroll(clerk, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
        token = Tokens(ledger).create("collector", [], "P-1", "bench")[1]
        client = TestClient(app)
        started = time.perf_counter()
        for i, idn in enumerate(ids):
            r = client.post("/v1/payments", headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"k{i}"},
                            json={"id_number": idn, "year": 2021, "amount": "1.00", "channel": "wechat",
                                  "paid_at": "2020-11-02T10:00:00+08:00"})
            assert r.status_code == 201, r.text
        payment = (time.perf_counter() - started) / len(ids)
        ledger.close()
    lines = [
        f"Machine: {machine()}.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| middleware cost per request (median of 5 alternating runs of {args.requests:,}) | {cost * 1e6:.1f} µs |",
        f"| a durable payment through the whole app (SQLite, in-process client, {len(ids)} payments) |"
        f" {payment * 1e3:.2f} ms |",
        f"| share of a payment | {cost / payment:.2%} |",
    ]
    print("\n".join(lines))
    write_section("Request metrics: their cost per payment (`python bench/bench_metrics.py`)", lines)


if __name__ == "__main__":
    main()
