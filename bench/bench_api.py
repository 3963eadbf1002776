"""Load benchmark of the HTTP API (not a test): python bench/bench_api.py [--seconds 10] [--backends sqlite,postgres]

Starts `ledger serve` on 127.0.0.1 and drives durable payments (POST /v1/payments, a new
Idempotency-Key each, rotating over pre-enrolled persons) with wrk at concurrency 1, 8 and 32;
then a bare FastAPI endpoint of the same shape, served the same way, in the same run. Needs
`wrk` (Debian: apt-get install wrk). After each run it counts the payments in the store and
checks that every 201 the client saw is there. Figures go to bench/RESULTS.md ("API load").
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contextlib import nullcontext  # noqa: E402

from bench.results import ledger_env, machine, pg_schema, write_section  # noqa: E402

PERSONS = 20_000

LUA = r"""
-- Keys must be new in every run: wrk seeds math.random the same way each time, so the run's
-- nonce comes from the command line and each thread gets its own number.
local counter = 0
local ids = {}
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  for line in io.lines(args[1]) do ids[#ids + 1] = line end
  nonce = args[2]
end
request = function()
  counter = counter + 1
  local idn = ids[(counter * 7919) % #ids + 1]
  local body = '{"id_number":"' .. idn .. '","year":2021,"amount":"1.00","paid_at":"2020-11-05T09:00:00+08:00","channel":"pos"}'
  wrk.headers["Idempotency-Key"] = nonce .. "-" .. tid .. "-" .. counter
  return wrk.format("POST", nil, nil, body)
end
"""

BARE_APP = '''
from fastapi import FastAPI
from pydantic import BaseModel

class Pay(BaseModel):
    id_number: str
    year: int
    amount: str
    paid_at: str
    channel: str

app = FastAPI()

@app.post("/v1/payments", status_code=201)
def pay(body: Pay):
    return {"payment_id": "bare", "enrollment": body.model_dump()}
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_up(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not start")


def run_wrk(url: str, token: str, script: Path, ids_file: Path, concurrency: int, seconds: int) -> dict:
    threads = min(concurrency, 2)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s", "--latency", "-s", str(script),
         "-H", f"Authorization: Bearer {token}", "-H", "Content-Type: application/json", url, "--", str(ids_file), uuid.uuid4().hex],
        capture_output=True, text=True, check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"^\s+(50|99)%\s+([\d.]+\w+)", out, re.M))
    return {"rps": rps, "total": total, "non2xx": int(bad.group(1)) if bad else 0, "p50": lat.get("50"), "p99": lat.get("99")}


def populate(env: dict[str, str], ids_file: Path) -> None:
    from api.services.demo import _id_number  # noqa: PLC2701 - the demo's generator of valid numbers
    import random

    from domain.ledger import Actor, Ledger

    os.environ.update(env)
    ledger = Ledger()
    rng, used = random.Random(7), set()
    ids = [_id_number(rng, date(1960 + i % 40, 1 + i % 12, 1 + i % 28), used) for i in range(PERSONS)]
    clerk = Actor("bench", "collector", "B-1")
    with ledger.batch(size=2000):
        for idn in ids:
            ledger.register(clerk, id_number=idn, name="压测", region="500110001001")
            ledger.enroll(clerk, id_number=idn, year=2021, tier=2, enrolled_on=date(2020, 11, 1))
    ids_file.write_text("\n".join(ids) + "\n")
    ledger.close()


def count_payments(env: dict[str, str]) -> int:
    from eventsourcing.utils import get_topic

    from domain.events import PaymentRecorded
    from domain.ledger import Ledger

    os.environ.update(env)
    ledger = Ledger()
    topic = get_topic(PaymentRecorded)
    n, start = 0, 1
    while True:
        page = ledger.store.recorder.select_notifications(start=start, limit=10_000, topics=[topic])
        if not page:
            break
        n += len(page)
        start = page[-1].id + 1
    ledger.close()
    return n


def bench_backend(backend: str, seconds: int, work: Path, results: list[str]) -> None:
    with pg_schema("bench_api") if backend == "postgres" else nullcontext() as schema:
        env = ledger_env(backend, work, schema)
        if backend == "postgres":
            env["LEDGER_POOL_SIZE"] = "40"
        run_server(backend, env, seconds, work, results)


def run_server(backend: str, env: dict[str, str], seconds: int, work: Path, results: list[str],
               serve_args: tuple[str, ...] = (), label: str = "ledger `POST /v1/payments`",
               concurrencies: tuple[int, ...] = (1, 8, 32)) -> None:
    ids_file, script = work / "ids.txt", work / "pay.lua"
    script.write_text(LUA)
    populate(env, ids_file)
    cli_env = {**os.environ, **env}
    token = subprocess.run([sys.executable, "-m", "api.cli", "token", "create", "--role", "collector", "--point", "B-1"],
                           env=cli_env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port), "--no-access-log",
                               "--log-level", "warning", *serve_args], env=cli_env, cwd=ROOT)
    try:
        wait_up(port, server)
        before = count_payments(env)
        for c in concurrencies:
            r = run_wrk(f"http://127.0.0.1:{port}/v1/payments", token, script, ids_file, c, seconds)
            after = count_payments(env)
            stored, before = after - before, after
            ok = r["total"] - r["non2xx"]
            line = (f"| {backend} | {label} | {c} | {r['rps']:,.0f} | {r['p50']} | {r['p99']} | "
                    f"{ok:,} answered 201, {stored:,} stored, {r['non2xx']} non-2xx |")
            print(line, flush=True)
            results.append(line)
    finally:
        server.terminate()
        server.wait(10)


def bench_bare(seconds: int, work: Path, results: list[str]) -> None:
    (work / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port), "--no-access-log",
                               "--log-level", "warning"], cwd=work)
    try:
        wait_up(port, server)
        for c in (1, 8, 32):
            r = run_wrk(f"http://127.0.0.1:{port}/v1/payments", "none", work / "pay.lua", work / "ids.txt", c, seconds)
            line = f"| - | bare FastAPI endpoint, same body | {c} | {r['rps']:,.0f} | {r['p50']} | {r['p99']} | nothing stored |"
            print(line, flush=True)
            results.append(line)
    finally:
        server.terminate()
        server.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    os.environ["TQDM_DISABLE"] = "1"
    results = [
        f"Machine: {machine()}; load generator wrk 4.1 on the same machine.",
        f"Each payment is one durable transaction (SQLite WAL, synchronous=FULL; PostgreSQL commit), paying 1.00"
        f" for one of {PERSONS:,} enrolled persons, with a new Idempotency-Key; {args.seconds} s per row; uvicorn,"
        " one worker process, access log off.",
        "",
        "| backend | endpoint | concurrency | requests/s | p50 | p99 | check |",
        "|---|---|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for backend in args.backends.split(","):
            sub = work / backend
            sub.mkdir()
            bench_backend(backend, args.seconds, sub, results)
            if not (work / "ids.txt").exists():
                shutil.copy(sub / "ids.txt", work / "ids.txt")
                shutil.copy(sub / "pay.lua", work / "pay.lua")
        bench_bare(args.seconds, work, results)
    write_section("API load: durable payments over HTTP (`python bench/bench_api.py`)", results)


if __name__ == "__main__":
    main()
