"""Health, readiness and metrics as a bureau's monitoring and an outsider meet them, on SQLite and
PostgreSQL: the verdicts say nothing else, a database gone is 503, the metrics need their guard and
count by route, never by a person's path."""

from __future__ import annotations

import re
from collections import Counter
import sqlite3
from datetime import date

from fastapi.testclient import TestClient

from conftest import PG, make_id
from test_api import enroll, h, pay, register


def test_healthz_and_readyz_answer_anyone_and_say_nothing_else(api):
    r = api.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    api.get("/v1/reports/enrollment", params={"region": "500110", "year": 2021}, headers=h(api))  # caught up
    api.app.state.log.catch_up()
    r = api.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready"})


def test_readyz_is_503_while_the_reports_trail_beyond_the_bound(api):
    api.app.state.ready_max_lag = 2
    for born in (date(1970, 1, 1), date(1971, 1, 1), date(1972, 1, 1)):
        register(api, born=born)
    api.app.state.log.catch_up()
    r = api.get("/readyz")
    assert (r.status_code, r.json()) == (503, {"status": "not_ready"})  # three events behind, the bound two
    api.get("/v1/reports/enrollment", params={"region": "500110", "year": 2021}, headers=h(api))
    assert api.get("/readyz").status_code == 200
    register(api, born=date(1973, 1, 1))
    register(api, born=date(1974, 1, 1))
    register(api, born=date(1975, 1, 1))
    api.get("/v1/reports/enrollment", params={"region": "500110", "year": 2021}, headers=h(api))
    assert api.get("/readyz").status_code == 503  # the log's tree is behind now
    api.app.state.log.catch_up()
    assert api.get("/readyz").status_code == 200


def test_readyz_is_503_without_detail_when_the_database_is_gone(api, store_env):
    """The events' table taken away under the running app (on PostgreSQL its whole schema): the
    verdict is 503 and says only that; /healthz still answers, the process being alive."""
    api.get("/v1/reports/enrollment", params={"region": "500110", "year": 2021}, headers=h(api))
    assert api.get("/readyz").status_code == 200
    if store_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        with sqlite3.connect(store_env["SQLITE_DBNAME"]) as db:
            table = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%events%'"
                               " ORDER BY name LIMIT 1").fetchone()[0]
            db.execute(f"ALTER TABLE {table} RENAME TO gone")
        restore = f"ALTER TABLE gone RENAME TO {table}"
    else:
        import psycopg

        schema = store_env["POSTGRES_SCHEMA"]
        with psycopg.connect(autocommit=True, **PG) as db:
            db.execute(f"ALTER SCHEMA {schema} RENAME TO {schema}_gone")
        restore = f"ALTER SCHEMA {schema}_gone RENAME TO {schema}"
    try:
        r = api.get("/readyz")
        assert (r.status_code, r.json()) == (503, {"status": "not_ready"}), r.text
        assert api.get("/healthz").status_code == 200
    finally:
        if store_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
            with sqlite3.connect(store_env["SQLITE_DBNAME"]) as db:
                db.execute(restore)
        else:
            with psycopg.connect(autocommit=True, **PG) as db:
                db.execute(restore)


def test_metrics_need_the_token_or_an_allowed_address(api):
    r = api.get("/metrics")  # the test client's address is no network's
    assert r.status_code == 403 and "LEDGER_METRICS_TOKEN" in r.json()["detail"] and "ledger_" not in r.text
    assert api.get("/metrics", headers=h(api, "admin")).status_code == 403  # an API token is not the guard
    api.app.state.metrics_token = "scrape-secret"
    assert api.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 403
    r = api.get("/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    api.app.state.metrics_token = ""
    import ipaddress

    api.app.state.metrics_allow = [ipaddress.ip_network("0.0.0.0/0")]
    local = TestClient(api.app, client=("10.1.2.3", 5000))
    assert local.get("/metrics").status_code == 200


def test_metrics_count_requests_by_route_batches_and_lags(api):
    idn, _ = register(api)
    enroll(api, idn)
    pay(api, idn, key="m-1", amount="10.00")
    pay(api, idn, key="m-2", amount="10.00")
    api.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}, headers=h(api))
    api.get("/v1/persons/123/coverage", params={"year": 2021}, headers=h(api))  # refused: 400
    api.app.state.metrics_token = "s"
    text = api.get("/metrics", headers={"Authorization": "Bearer s"}).text
    assert idn not in text and idn[-4:] + "/" not in text  # a route's template, never a person's path

    def value(pattern: str) -> float:
        found = re.search(pattern + r" ([0-9.e+]+)", text)
        assert found, (pattern, text[:3000])
        return float(found.group(1))

    assert value(r'ledger_http_requests_total\{method="POST",route="/v1/payments",status="201"\}') == 2
    assert value(r'ledger_http_requests_total\{method="GET",route="/v1/persons/\{id_number\}/coverage",status="200"\}') == 1
    assert value(r'ledger_http_requests_total\{method="GET",route="/v1/persons/\{id_number\}/coverage",status="400"\}') == 1
    assert value(r'ledger_http_request_seconds_count\{method="POST",route="/v1/payments"\}') == 2
    assert value(r"ledger_group_commit_events_count") >= 3  # registration, enrollment, two payments
    head = api.ledger.store.recorder.max_notification_id()
    assert value(r"ledger_log_position") == head
    assert value(r"ledger_projection_lag_events") == head - api.app.state.reports.views.position()
    assert value(r"ledger_log_tree_lag_events") == head - api.app.state.log.tables.state()[1]


def test_import_rows_are_counted_by_outcome(api):
    from test_collection_import import EXPECTED, FIXTURES, seed

    seed(api.ledger)
    body = (FIXTURES / "collections_en_utf8_bom.csv").read_bytes()
    r = api.post("/v1/imports/collections", content=body, headers=h(api, "bureau", **{"Content-Type": "text/csv"}))
    assert r.status_code == 200, r.text
    counts = r.json()["counts"]
    api.app.state.metrics_token = "s"
    text = api.get("/metrics", headers={"Authorization": "Bearer s"}).text
    for outcome, n in counts.items():
        if n:
            assert f'ledger_import_rows_total{{outcome="{outcome}"}} {float(n)}' in text, (outcome, text[-2000:])
    assert {k: v for k, v in counts.items() if v} == dict(Counter(EXPECTED.values()))


def test_serve_logs_json_lines_with_identity_numbers_masked(tmp_path):
    """`ledger serve --log-format json`: every line one JSON object a log collector reads, the access
    log's client address and route in it, an identity number in a path masked as in text logs."""
    import json

    import httpx

    from served import ledger_env, serving, token

    env = ledger_env(tmp_path)
    secret = token(tmp_path, env, "admin", "ops")
    idn = make_id(date(1975, 5, 5))
    with open(tmp_path / "serve.log", "w") as log, serving(tmp_path, env, "--log-format", "json", output=log) as base:
        assert httpx.get(f"{base}/v1/persons/{idn}/coverage", params={"year": 2021},
                         headers={"Authorization": f"Bearer {secret}"}).status_code == 404
        assert httpx.get(f"{base}/healthz").status_code == 200
    lines = [line for line in (tmp_path / "serve.log").read_text(encoding="utf-8").splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records), records[:3]
    access = [r["message"] for r in records if r["logger"] == "uvicorn.access"]
    assert any("127.0.0.1" in m and "/healthz" in m for m in access), access
    assert any(idn[:6] + "********" + idn[-4:] in m for m in access), access
    assert idn not in "\n".join(lines) and secret not in "\n".join(lines)
