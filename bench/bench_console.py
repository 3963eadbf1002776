"""The console's pages at full Qianjiang scale, timed through HTTP as a browser asks for them.

    python bench/bench_console.py [--backend sqlite|postgres|both] [--scale 1] [--runs 10]

The demo (scale 1: 557,458 persons) is written through the ledger's command path and the report
projection rebuilt, then the app `ledger serve` runs is served by uvicorn on a local port, a bureau
token signs in through the console's form, and each page is fetched `runs` times after one
warm-up: the county page (500114, 2021, as of 2021-06-30 and as of today), a township page, and a
person page found through the search form; each cold (one event written before every request, so
the report is made afresh from the projection) and warm (the same question again, answered from
the reports kept since the last write). Median and slowest, in ms, to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import re
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import Tokens  # noqa: E402
from api.services.demo import plan, record_all  # noqa: E402
from bench.results import ledger_env, machine, pg_schema, write_section  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.store import storage_env  # noqa: E402
from projections.service import Reports  # noqa: E402


def timed(client: httpx.Client, url: str, runs: int, before=None) -> tuple[float, float, int]:
    times, size = [], 0
    for _ in range(runs + 1):
        if before is not None:
            before()
        started = time.perf_counter()
        r = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert r.status_code == 200, (url, r.status_code, r.text[:300])
        size = len(r.content)
    return statistics.median(times[1:]), max(times[1:]), size


def run(backend: str, scale: int, runs: int, workdir: Path, schema: str | None) -> list[str]:
    import uvicorn

    from api.app import create_app

    ledger = Ledger(env=storage_env(ledger_env(backend, workdir, schema)))
    people = list(plan(scale, 2021))
    started = time.perf_counter()
    record_all(ledger, people, 300)
    written = time.perf_counter() - started
    Reports(ledger.store, ledger.env).follower.rebuild()
    token = Tokens(ledger).create("bureau", ["500114"], "QJ-bureau", "bench-bureau")[1]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(ledger), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    lines = []
    with httpx.Client(base_url=base, timeout=60) as client:
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text).group(1)
        client.post("/console/login", data={"token": token, "csrf": csrf})
        csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console").text).group(1)
        person = next(p for p in people if p.payments and len(p.payments) > 1)
        found = client.post("/console/persons/search", data={"id_number": person.id_number, "csrf": csrf},
                            follow_redirects=True)
        address = found.url.path
        pages = [
            ("county page 500114, 30 townships, as of 2021-06-30", "/console/enrollment?region=500114&year=2021&as_of=2021-06-30"),
            ("county page 500114, as of today", "/console/enrollment?region=500114&year=2021"),
            ("township page 500114001, its villages, as of 2021-06-30",
             "/console/enrollment?region=500114001&year=2021&as_of=2021-06-30"),
            ("person page (registration, coverage year, timeline)", address),
        ]
        tokens = Tokens(ledger)

        def write_one_event() -> None:  # any write moves the log on: the next answer is made afresh
            tokens.create("auditor", [], None, None)

        for what, url in pages:
            for how, before in (("cold: one event written before each request", write_one_event),
                                ("warm: the same question again", None)):
                p50, slowest, size = timed(client, url, runs, before)
                lines.append(f"| {backend} | {what}; {how} | p50 **{p50:.0f} ms**, max {slowest:.0f} ms"
                             f" ({size:,} bytes) |")
                print(lines[-1], flush=True)
    server.should_exit = True
    ledger.close()
    return [f"| {backend} | {len(people):,} persons written in {written:.0f} s, projection rebuilt | |", *lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--scale", type=int, default=1, help="1 = the full 557,458 persons")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    lines = [
        f"Machine: {machine()}. `python bench/bench_console.py --scale {args.scale} --backend {args.backend}`:"
        " each console page through HTTP with a signed-in session (uvicorn on a local port, one client),"
        f" median and slowest of {args.runs} runs after one warm-up; cold: one event written before each"
        " request, so the report is made afresh; warm: the same question again.",
        "",
        "| backend | page | time |",
        "|---|---|---|",
    ]
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        with tempfile.TemporaryDirectory() as d:
            if backend == "postgres":
                with pg_schema("bench_console") as schema:
                    lines += run(backend, args.scale, args.runs, Path(d), schema)
            else:
                lines += run(backend, args.scale, args.runs, Path(d), None)
    write_section("Console pages", lines)


if __name__ == "__main__":
    main()
