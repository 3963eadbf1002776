"""A province on PostgreSQL: reports, console pages, rebuild, disk and memory as persons grow.

    python bench/bench_province.py [--sizes 0.5,2,5] [--runs 5]

Chongqing's counties are written into one store by the province demo's own code (`ledger demo
--counties N` at full scale, through the ledger's command path, 1,000 persons a transaction), two
counties at a time in two processes (this machine's cores), until the store holds each size in turn
(in millions of persons). At each size: the projection is rebuilt from zero (rows and totals);
the enrollment, subsidies and collections reports are asked as of 2021-06-30, known now, for the
province (50), the prefecture (5001), a county (500114) and a township (500114001), from the totals
and, for comparison, from the rows (the path of a moment in the past); the enrollment report known
at a past moment (the path that reads the rows' interval tree); the console's province and county
pages through HTTP, cold (an event written before each request); the disk the schema takes; and the
peak memory of a `ledger serve` process that served those reports. Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth import Tokens  # noqa: E402
from api.services.demo import QIANJIANG, counties, load_demo_policy, plan, record_all, townships  # noqa: E402
from bench.results import PG_DSN, ledger_env, machine, pg_schema, write_section  # noqa: E402
from domain.dates import now  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.store import storage_env  # noqa: E402
from projections.service import Reports  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2021, 6, 30)
YEAR = 2021
REGIONS = [("province", "50"), ("prefecture", "5001"), ("county", "500114"), ("township", "500114001")]
KINDS = ("enrollment", "subsidies", "collections")


def median_ms(work, runs: int) -> float:
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        work()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])


def report_times(reports: Reports, runs: int, t0) -> dict[str, float]:
    """Each report made afresh (the kept answers are not asked), from the totals and from the rows."""
    figures: dict[str, float] = {}
    ready = reports.views.totals_ready
    for kind in KINDS:
        for level, region in REGIONS:
            figures[f"{kind} {level}, totals"] = median_ms(lambda: reports._make(kind, region, YEAR, AS_OF, None), runs)
    reports.views.totals_ready = lambda: False  # the rows' path, as for a moment in the past
    try:
        for level, region in REGIONS[:3]:
            figures[f"enrollment {level}, rows"] = median_ms(
                lambda: reports._make("enrollment", region, YEAR, AS_OF, None), max(1, runs // 2))
    finally:
        reports.views.totals_ready = ready
    for level, region in REGIONS[:3]:
        figures[f"enrollment {level}, known at T0"] = median_ms(
            lambda: reports._make("enrollment", region, YEAR, AS_OF, t0), max(1, runs // 2))
    return figures


def schema_bytes(schema: str) -> int:
    with psycopg.connect(PG_DSN) as c:
        return int(c.execute("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN"
                             " pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'",
                             (schema,)).fetchone()[0])


def serve_figures(env: dict[str, str], token: str, runs: int) -> tuple[dict[str, float], int]:
    """`ledger serve` as a bureau runs it: the console's province and county pages, cold; its peak memory."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen([sys.executable, "-m", "api.cli", "serve", "--port", str(port)],
                               env={**os.environ, **env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        ledger = Ledger(env=storage_env(env))
        tokens = Tokens(ledger)
        figures = {}
        with httpx.Client(base_url=base, timeout=300) as client:
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/console/login").text).group(1)
            client.post("/console/login", data={"token": token, "csrf": csrf})
            for level, region in REGIONS[:3]:
                url = f"/console/enrollment?region={region}&year={YEAR}&as_of={AS_OF}"

                def page() -> None:
                    tokens.create("auditor", [], None, None)  # the log moves on: the page is made afresh
                    assert client.get(url).status_code == 200

                figures[f"console {level} page, cold"] = median_ms(page, runs)
        ledger.close()
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak_kb = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
        return figures, peak_kb * 1024
    finally:
        process.terminate()
        process.wait(timeout=30)


def table(sizes: list[float], columns: dict[str, list[str]]) -> list[str]:
    header = "| what | " + " | ".join(f"{s:g} M persons" for s in sizes) + " |"
    return [header, "|---|" + "---|" * len(sizes),
            *(f"| {k} | " + " | ".join(f"**{v}**" if "totals" in k and "ms" in v else v for v in values)
              + " |" * (1 + len(sizes) - len(values)) for k, values in columns.items())]


def county_persons(scale: int, county: str) -> int:
    """How many persons the demo writes for the county (its townships drawn as the demo draws them)."""
    rng = random.Random(YEAR if county == QIANJIANG else f"{YEAR}/{county}")
    return sum(round(t.population / scale) for t in townships(county, rng))


def load_county(job: tuple[dict[str, str], int, str]) -> tuple[str, int]:
    """One county's season, written by a process of its own."""
    settings, scale, county = job
    ledger = Ledger(env=storage_env(settings))
    people = list(plan(scale, YEAR, county))
    record_all(ledger, people, 1000)
    ledger.close()
    return county, len(people)


def run(sizes: list[float], runs: int, schema: str, scale: int, done) -> list[str]:
    settings = ledger_env("postgres", Path("."), schema)
    env = storage_env(settings)
    ledger = Ledger(env=env)
    load_demo_policy(ledger)
    reports = Reports(ledger.store, ledger.env)
    reports.follower.catch_up()
    token = Tokens(ledger).create("bureau", ["50"], "CQ-bureau", "bench-province")[1]
    columns: dict[str, list[str]] = {}
    persons, events, t0 = 0, 0, None
    remaining = iter(counties())
    pool = multiprocessing.get_context("spawn").Pool(2)
    for size in sizes:
        started, jobs, planned = time.perf_counter(), [], persons
        while planned < size * 1_000_000:
            county = next(remaining)
            planned += county_persons(scale, county)
            jobs.append((settings, scale, county))
        for county, written in pool.imap_unordered(load_county, jobs):
            persons += written
            print(f"{county}: {written:,} persons, {persons:,} in all", flush=True)
            t0 = t0 or now()
        head = reports.follower.head()
        write_s = time.perf_counter() - started
        rate = (head - events) / write_s
        events = head
        started = time.perf_counter()
        reports.follower.rebuild()
        rebuilt = time.perf_counter() - started
        figures = report_times(reports, runs, t0)
        console, peak = serve_figures(settings, token, runs)
        disk = schema_bytes(schema)
        column = {
            "persons (events)": f"{persons:,} ({events:,})",
            "written through the command path (2 processes)": f"{write_s:.0f} s, {rate:,.0f} events/s",
            "rebuild from zero (rows and totals)": f"{rebuilt:.0f} s, {events / rebuilt:,.0f} events/s",
            **{k: f"{v:,.0f} ms" for k, v in {**figures, **console}.items()},
            "disk (events, rows, totals, indexes)": f"{disk / 2**30:.1f} GiB, {disk / 2**30 / persons * 1e6:.2f} GiB"
                                                    " per million persons",
            "`ledger serve` peak memory after these pages": f"{peak / 2**20:,.0f} MB",
        }
        for k, v in column.items():
            columns.setdefault(k, []).append(v)
            print(f"{size} M: {k}: {v}", flush=True)
        done(table(sizes, columns))  # each size written as it is measured
    pool.close()
    reports.close()
    ledger.close()
    return table(sizes, columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0.5,2,5", help="millions of persons, comma-separated, growing")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--scale", type=int, default=1, help="the demo's scale (1: full; more, to try the benchmark)")
    args = parser.parse_args()
    sizes = [float(s) for s in args.sizes.split(",")]
    lines = [
        f"Machine: {machine()}. `python bench/bench_province.py --sizes {args.sizes} --scale {args.scale}`:"
        " Chongqing counties"
        " written two at a time by the province demo (full scale, the command path) into one PostgreSQL"
        " schema until it holds each size; reports made afresh (not the kept answers), median of"
        f" {args.runs} after one warm-up; as of {AS_OF}, known now unless said; the rows' path and the"
        " known-at-T0 path (T0: after the first county) at half the runs.",
        "",
    ]
    with pg_schema("bench_province") as schema:
        # A section per set of sizes, so a smaller run does not replace a larger one.
        title = f"A province on PostgreSQL: the scale table ({args.sizes} M persons, scale 1/{args.scale})"
        run(sizes, args.runs, schema, args.scale, lambda rows: write_section(title, lines + rows))


if __name__ == "__main__":
    main()
