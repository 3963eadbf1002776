"""The verifiable log's cost and speed (not a test):

    python bench/bench_log.py [--backend sqlite|postgres|both] [--scale 1] [--seconds 10]

1. The demo written twice into fresh stores at 1/scale, once alone and once with the log's tree
   following it in a thread of the same process (as `ledger serve` keeps it), side by side:
   events/s of the writing, and how long the tree then needs to catch up.
2. `ledger log verify`'s work on that log (every leaf recomputed from the stored events, the tree
   from the leaves, every checkpoint checked): events/s.
3. Durable payments over HTTP (`ledger serve`, wrk at concurrency 8 and 32), with the log's
   thread and `--without-log`, side by side.
Figures go to bench/RESULTS.md ("Verifiable log").
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.services.demo import plan, record_all  # noqa: E402
from bench.bench_api import run_server  # noqa: E402
from bench.results import ledger_env, machine, pg_schema, write_section  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.store import storage_env  # noqa: E402
from projections.tlog import VerifiableLog, follow, verify  # noqa: E402


def demo(backend: str, scale: int, work: Path, schema: str | None, with_log: bool) -> tuple[list[str], Ledger, VerifiableLog]:
    env = storage_env(ledger_env(backend, work, schema))
    ledger = Ledger(env=env)
    # As `ledger log verify` opens it: with the store's settings, so that verify's workers can too.
    log = VerifiableLog(ledger.store, "ledger.example/bench", work / "bench.log-key", env)
    people = list(plan(scale, 2021))
    stop = threading.Event()
    thread = threading.Thread(target=follow, args=(log, stop, 1.0), daemon=True) if with_log else None
    if thread:
        thread.start()
    started = time.perf_counter()
    record_all(ledger, people, 300)
    written = time.perf_counter() - started
    events = ledger.store.recorder.max_notification_id() or 0
    stop.set()
    if thread:
        thread.join()
    behind = events - log.size()
    started = time.perf_counter()
    log.catch_up()
    log.checkpoint()
    caught = time.perf_counter() - started
    what = "with the log's tree following in the same process" if with_log else "alone"
    line = (f"| {backend} | demo 1/{scale} ({len(people):,} persons, {events:,} events), {what} | {written:.1f} s,"
            f" **{events / written:,.0f} events/s**; the tree then {behind:,} behind, caught up in {caught:.1f} s |")
    return [line], ledger, log


def run(backend: str, scale: int, seconds: int, work: Path, parts: set[str], without_first: bool = False) -> list[str]:
    lines: list[str] = []
    for with_log in [w for w in (False, True) if "demo" in parts or (w and "verify" in parts)]:
        sub = work / ("with" if with_log else "without")
        sub.mkdir()
        with pg_schema("bench_log") if backend == "postgres" else nullcontext() as schema:
            found, ledger, log = demo(backend, scale, sub, schema, with_log)
            if "demo" in parts:
                lines += found
                print(found[0], flush=True)
            if with_log and "verify" in parts:
                started = time.perf_counter()
                verdict = verify(log)
                took = time.perf_counter() - started
                assert verdict.ok, verdict.problem
                lines.append(f"| {backend} | `ledger log verify` over those {verdict.checked:,} events"
                             f" ({verdict.checkpoints} checkpoints) | {took:.1f} s,"
                             f" **{verdict.checked / took:,.0f} events/s** |")
                print(lines[-1], flush=True)
            ledger.close()
    if "api" in parts and shutil.which("wrk"):
        variants = [((), "payments, serve keeping the log"), (("--without-log",), "payments, serve `--without-log`")]
        for serve_args, label in (variants[::-1] if without_first else variants):
            sub = work / ("api" + "-".join(serve_args))
            sub.mkdir()
            with pg_schema("bench_log_api") if backend == "postgres" else nullcontext() as schema:
                env = ledger_env(backend, sub, schema)
                env["LEDGER_LOG_KEY"] = str(sub / "bench.log-key")
                if backend == "postgres":
                    env["LEDGER_POOL_SIZE"] = "40"
                rows: list[str] = []
                run_server(backend, env, seconds, sub, rows, serve_args, label, (8, 32))
                lines += [f"| {backend} | {r.split(' | ', 2)[1]}, concurrency {r.split(' | ')[2]} |"
                          f" {r.split(' | ')[3]} requests/s, p50 {r.split(' | ')[4]}, p99 {r.split(' | ')[5]} |"
                          for r in rows]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--parts", default="demo,verify,api", help="any of demo, verify, api (default all)")
    parser.add_argument("--without-first", action="store_true", help="api: serve --without-log first (order effects)")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    os.environ["TQDM_DISABLE"] = "1"
    lines = [
        f"Machine: {machine()}. `python bench/bench_log.py --backend {args.backend} --scale {args.scale}"
        f" --parts {args.parts}`: "
        + "; ".join(what for part, what in (
            ("demo", "the demo written alone and with the log's tree following it"),
            ("verify", "`ledger log verify`'s work (2 worker processes) over a demo written with the tree following"),
            ("api", f"durable payments over HTTP ({args.seconds} s per row, wrk) with and without the log's thread"
                    " in `ledger serve`, one after the other on fresh stores")) if part in parts) + ".",
        "",
        "| backend | what | figures |",
        "|---|---|---|",
    ]
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        with tempfile.TemporaryDirectory() as d:
            lines += run(backend, args.scale, args.seconds, Path(d), parts, args.without_first)
    title = "Verifiable log" if parts == {"demo", "verify", "api"} else f"Verifiable log: {args.parts}"
    write_section(title + (", --without-log first" if args.without_first else ""), lines)


if __name__ == "__main__":
    main()
