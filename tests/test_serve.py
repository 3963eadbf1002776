"""A real `ledger serve` process on 127.0.0.1, driven over HTTP: concurrency and idempotency."""

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import httpx
import pytest

from conftest import ledger_environ, make_id
from served import free_port

ROOT = Path(__file__).resolve().parents[1]


def _ledger(*args: str, env: dict[str, str]) -> str:
    out = subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


@pytest.fixture
def server(store_env, tmp_path):
    env = {**ledger_environ(store_env), "LEDGER_LOG_KEY": str(tmp_path / "ledger.log-key")}
    token = _ledger("token", "create", "--role", "admin", "--point", "P-1", "--name", "admin-1", env=env)
    port = free_port()
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/openapi.json", timeout=1)
            break
        except httpx.HTTPError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError((tmp_path / "serve.log").read_text()) from None
            time.sleep(0.2)
    client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    client.log_path = tmp_path / "serve.log"
    client.env = env
    yield client
    client.close()
    proc.terminate()
    proc.wait(10)
    log.close()


def _enrolled(client) -> str:
    idn = make_id(date(1966, 6, 6))
    assert client.post("/v1/persons", json={"id_number": idn, "name": "周八", "region": "500110001001"}).status_code == 201
    assert client.post("/v1/enrollments", json={"id_number": idn, "year": 2021, "tier": 2, "enrolled_on": "2020-11-01"}).status_code == 201
    return idn


def _payment(idn: str, amount: str = "10.00") -> dict:
    return {"id_number": idn, "year": 2021, "amount": amount, "paid_at": "2020-11-05T09:00:00+08:00", "channel": "pos"}


def test_sixteen_concurrent_requests_with_one_key_post_once(server):
    idn = _enrolled(server)

    def post(_):
        return server.post("/v1/payments", json=_payment(idn), headers={"Idempotency-Key": "one-key"})

    with ThreadPoolExecutor(16) as pool:
        responses = list(pool.map(post, range(16)))
    assert [r.status_code for r in responses] == [201] * 16
    assert len({r.json()["payment_id"] for r in responses}) == 1
    assert sum(r.headers.get("Idempotent-Replayed") == "true" for r in responses) == 15
    coverage = server.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}).json()
    assert coverage["paid"] == "10.00"


def test_twenty_concurrent_keys_on_one_person_all_post(server):
    idn = _enrolled(server)

    def post(n):
        return server.post("/v1/payments", json=_payment(idn), headers={"Idempotency-Key": f"key-{n}"})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(post, range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    assert len({r.json()["payment_id"] for r in responses}) == 20
    assert server.get(f"/v1/persons/{idn}/coverage", params={"year": 2021}).json()["paid"] == "200.00"


def test_served_logs_never_show_an_identity_number(server):
    idn = _enrolled(server)
    server.get(f"/v1/persons/{idn}/coverage", params={"year": 2021})
    server.get(f"/v1/persons/{idn}/history")
    time.sleep(0.3)
    log = server.log_path.read_text()
    assert "/v1/persons/" in log and idn not in log and f"{idn[:6]}********{idn[-4:]}" in log


def test_serve_keeps_the_report_projection_caught_up(server):
    """Writes through the API reach the projection's rows with no report asked for."""
    import json

    idn = make_id(date(1975, 3, 3))
    assert server.post("/v1/persons", json={"id_number": idn, "name": "周九", "region": "500114001001"}).status_code == 201
    assert server.post(f"/v1/persons/{idn}/identities", json={"category": "dibao", "action": "certify",
                                                               "effective_on": "2020-01-01"}).status_code == 201
    deadline = time.monotonic() + 30
    while True:
        status = json.loads(subprocess.run([sys.executable, "-m", "api.cli", "projections", "status", "--json"],
                                           env=server.env, cwd=ROOT, capture_output=True, text=True, check=True).stdout)
        if status["lag"] == 0 and status["rows"]["person_rows"] == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert status["lag"] == 0 and status["position"] == status["head"] > 0
    assert status["rows"]["person_rows"] == 1  # the assisted person's row, applied by serve's follower
