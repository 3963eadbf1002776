"""`ledger serve --workers N` on PostgreSQL: processes that share one database, the background
duties done by exactly one of them, retries of one key across processes posted once, a worker
killed with -9 under load losing no acknowledged payment. SQLite refuses more than one."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pytest

from api.duties import PROJECTION, VERIFIABLE_LOG
from conftest import PG, _drop_schema, _postgres_env, ledger_environ, make_id
from served import free_port

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def pg_env(tmp_path):
    store_env, schema = _postgres_env()
    env = {**ledger_environ(store_env), "LEDGER_LOG_KEY": str(tmp_path / "ledger.log-key")}
    yield env, schema
    _drop_schema(schema)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@contextmanager
def serving(env: dict[str, str], log: Path, *args: str):
    """`ledger serve` with `args` until the block ends: its address and process."""
    port = free_port()
    out = open(log, "a")
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--no-access-log", *args],
                            env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(log.read_text())
            time.sleep(0.2)
        yield base, proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


def workers_of(log: Path) -> list[int]:
    """The worker processes uvicorn says it started."""
    return [int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", log.read_text())]


def duty_holders(schema: str) -> dict[int, list[int]]:
    """Which worker processes hold each duty's lock for this schema: duty key -> their pids (as
    their connections name them)."""
    with psycopg.connect(autocommit=True, **PG) as c:
        rows = c.execute("SELECT l.classid::int, a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                         " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2"
                         " AND l.objid::int = hashtext(%s)", (schema,)).fetchall()
    held: dict[int, list[int]] = {}
    for key, name in rows:
        held.setdefault(key, []).append(int(name.rsplit(" ", 1)[1]))
    return held


def wait_for(check, seconds: float = 60):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def _enrolled(client: httpx.Client, n: int = 1) -> list[str]:
    ids = []
    for _ in range(n):
        idn = make_id(date(1970, 7, 7))
        assert client.post("/v1/persons", json={"id_number": idn, "name": "钱七", "region": "500110001001"}).status_code == 201
        assert client.post("/v1/enrollments", json={"id_number": idn, "year": 2021, "tier": 2,
                                                     "enrolled_on": "2020-11-01"}).status_code == 201
        ids.append(idn)
    return ids


def _payment(idn: str) -> dict:
    return {"id_number": idn, "year": 2021, "amount": "1.00", "paid_at": "2020-11-05T09:00:00+08:00", "channel": "pos"}


def _token(env: dict[str, str]) -> str:
    made = _cli(env, "token", "create", "--role", "admin", "--point", "P-1", "--name", "admin-1")
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


def test_sqlite_refuses_more_than_one_worker_and_says_why(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "POSTGRES_"))}
    env["LEDGER_DB"] = str(tmp_path / "ledger.db")
    done = _cli(env, "serve", "--workers", "2", "--port", str(free_port()))
    assert done.returncode != 0
    assert "--workers" in done.stderr and "SQLite" in done.stderr and "PostgreSQL" in done.stderr
    assert "Traceback" not in done.stderr


def test_two_processes_retrying_one_key_post_once(pg_env, tmp_path):
    """Two `ledger serve` processes on one database, the same request sent to both at once."""
    env, _ = pg_env
    token = _token(env)
    headers = {"Authorization": f"Bearer {token}"}
    with serving(env, tmp_path / "a.log") as (a, _), serving(env, tmp_path / "b.log") as (b, _):
        clients = [httpx.Client(base_url=base, headers=headers, timeout=60) for base in (a, b)]
        idn = _enrolled(clients[0])[0]

        def post(n: int) -> httpx.Response:
            return clients[n % 2].post("/v1/payments", json=_payment(idn), headers={"Idempotency-Key": "shared-key"})

        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(post, range(16)))
        assert [r.status_code for r in responses] == [201] * 16
        assert len({r.json()["payment_id"] for r in responses}) == 1
        assert sum(r.headers.get("Idempotent-Replayed") != "true" for r in responses) == 1
        for client in clients:
            assert client.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}).json()["paid"] == "1.00"
            client.close()


def test_workers_share_the_duties_once_and_a_killed_worker_loses_no_acknowledged_payment(pg_env, tmp_path):
    env, schema = pg_env
    token = _token(env)
    headers = {"Authorization": f"Bearer {token}"}
    with serving(env, tmp_path / "serve.log", "--workers", "2") as (base, proc):
        workers = wait_for(lambda: len(w := workers_of(tmp_path / "serve.log")) >= 2 and w)
        assert workers and len(workers) == 2, (tmp_path / "serve.log").read_text()
        # Each duty is done by exactly one process.
        held = wait_for(lambda: (h := duty_holders(schema)) and len(h) == 2 and h)
        assert sorted(held) == sorted([PROJECTION, VERIFIABLE_LOG]) and all(len(p) == 1 for p in held.values()), held
        assert {p for pids in held.values() for p in pids} <= set(workers)
        victim = held[PROJECTION][0]  # the worker that keeps the projection: its duties must move

        client = httpx.Client(base_url=base, headers=headers, timeout=60)
        ids = _enrolled(client, 4)
        acknowledged: dict[str, str] = {}  # key -> payment id
        stop = threading.Event()

        def pay(lane: int) -> None:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
                n = 0
                while not stop.is_set():
                    key = f"lane{lane}-{n}"
                    while True:  # as a collection point does: the same key again until answered
                        try:
                            r = c.post("/v1/payments", json=_payment(ids[lane]), headers={"Idempotency-Key": key})
                        except httpx.HTTPError:
                            time.sleep(0.1)
                            continue
                        if r.status_code == 201:
                            acknowledged[key] = r.json()["payment_id"]
                            break
                        assert r.status_code >= 500, r.text  # a dying worker's answer: sent again
                        time.sleep(0.1)
                    n += 1

        lanes = [threading.Thread(target=pay, args=(lane,)) for lane in range(4)]
        for t in lanes:
            t.start()
        wait_for(lambda: len(acknowledged) >= 40)
        os.kill(victim, signal.SIGKILL)
        before = len(acknowledged)
        wait_for(lambda: len(acknowledged) >= before + 40)
        stop.set()
        for t in lanes:
            t.join(120)
        assert len(acknowledged) >= before + 40  # the surviving (and restarted) workers went on answering

        # Every acknowledged payment is in the ledger once, and nothing else was posted.
        for lane, idn in enumerate(ids):
            mine = {k: p for k, p in acknowledged.items() if k.startswith(f"lane{lane}-")}
            history = client.get(f"/v1/persons/{idn}/history").json()
            posted = [e for e in history["events"] if e["type"] == "PaymentRecorded"]
            assert sorted(e["data"]["payment_id"] for e in posted) == sorted(mine.values())
            assert client.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}).json()["paid"] == f"{len(mine)}.00"

        # The killed worker's duties are taken over, and each is held once.
        held = wait_for(lambda: (h := duty_holders(schema)) and len(h) == 2 and h)
        assert held and all(len(p) == 1 for p in held.values()), held
        assert victim not in {p for pids in held.values() for p in pids}
        status = wait_for(lambda: (s := _cli(env, "projections", "status", "--json")) and '"lag": 0' in s.stdout and s)
        assert status and '"lag": 0' in status.stdout
        client.close()


def test_projections_run_waits_while_serve_keeps_the_projection(pg_env, tmp_path):
    env, schema = pg_env
    _token(env)
    with serving(env, tmp_path / "serve.log"):
        assert wait_for(lambda: PROJECTION in duty_holders(schema))
        run = subprocess.Popen([sys.executable, "-m", "api.cli", "projections", "run"], env=env, cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            first = run.stdout.readline()
            assert "another process" in first and "waiting" in first
        finally:
            run.send_signal(signal.SIGTERM)
            assert run.wait(30) == 0
    # With serve gone, it takes the projection over.
    run = subprocess.Popen([sys.executable, "-m", "api.cli", "projections", "run"], env=env, cwd=ROOT,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert run.stdout.readline().startswith("following the ledger")
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(30)
