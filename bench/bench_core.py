"""Benchmark of the ledger core (not a test): python bench/bench_core.py [--scale N] [--backends sqlite,postgres]

Measures, on each backend, in one run on one machine:
- the bare eventsourcing library: one aggregate event per transaction, and batches of 1000;
- the ledger's command path writing the demo: one command per transaction, and batches of 1000;
- per-person coverage query latency (p50, p99).
Writes the figures to bench/RESULTS.md (section "Core") and prints them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eventsourcing.application import Application  # noqa: E402
from eventsourcing.domain import Aggregate, event  # noqa: E402

from api.services.demo import YEAR, plan, record, record_all  # noqa: E402
from bench.results import machine, write_section  # noqa: E402
from domain.ledger import Ledger  # noqa: E402


class Account(Aggregate):
    """The library's own kind of aggregate, for the baseline."""

    @event("Opened")
    def __init__(self, name: str):
        self.name = name


class Baseline(Application):
    pass


def env_for(backend: str, workdir: Path, name: str) -> dict[str, str]:
    if backend == "sqlite":
        return {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(workdir / f"{name}.db")}
    import psycopg

    schema = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": "test", "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "", "POSTGRES_SCHEMA": schema,
    }


def drop(env: dict[str, str]) -> None:
    if env["PERSISTENCE_MODULE"].endswith("postgres"):
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
            c.execute(f"DROP SCHEMA {env['POSTGRES_SCHEMA']} CASCADE")


def baseline(env: dict[str, str], n_single: int, n_batch: int) -> tuple[float, float]:
    app = Baseline(env=env)
    t = time.perf_counter()
    for i in range(n_single):
        app.save(Account(f"a{i}"))
    single = n_single / (time.perf_counter() - t)
    t = time.perf_counter()
    for start in range(0, n_batch, 1000):
        app.save(*[Account(f"b{i}") for i in range(start, min(start + 1000, n_batch))])
    batched = n_batch / (time.perf_counter() - t)
    app.close()
    return single, batched


def command_path(env: dict[str, str], people, batch: int | None) -> tuple[float, int, float]:
    ledger = Ledger(env=env)
    t = time.perf_counter()
    if batch:
        record_all(ledger, people, batch)
    else:
        for p in people:
            record(ledger, p)
    elapsed = time.perf_counter() - t
    events = ledger.store.recorder.max_notification_id() or 0
    ledger.close()
    return events / elapsed, events, elapsed


def query_latency(env: dict[str, str], people, samples: int = 2000) -> tuple[float, float]:
    ledger = Ledger(env=env)
    enrolled = [p.id_number for p in people if p.enroll_on][:samples]
    times = []
    for idn in enrolled:
        t = time.perf_counter()
        ledger.coverage(idn, YEAR, on=date(2021, 6, 1))
        times.append(time.perf_counter() - t)
    ledger.close()
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=100, help="demo scale for the batched runs (default 1/100)")
    parser.add_argument("--single-scale", type=int, default=400, help="demo scale for one-command-per-transaction runs")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    people = list(plan(args.scale, 2021))
    single_people = list(plan(args.single_scale, 2021))
    lines = [
        f"Machine: {machine()}",
        f"Demo: Qianjiang 2021, {len(people):,} persons (1/{args.scale}) batched; "
        f"{len(single_people):,} persons (1/{args.single_scale}) one command per transaction.",
        "",
        "| backend | library, 1 event/tx | ledger, 1 command/tx | ratio | library, batches of 1000 | ledger, 300 persons (≈1000 commands) per tx | ratio | coverage query p50 / p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            envs = [env_for(backend, work, n) for n in ("base", "single", "batch")]
            lib_single, lib_batch = baseline(envs[0], 3000, 50_000)
            single_rate, single_events, _ = command_path(envs[1], single_people, None)
            batch_rate, batch_events, batch_secs = command_path(envs[2], people, 300)
            p50, p99 = query_latency(envs[2], people)
            for env in envs:
                drop(env)
        row = (
            f"| {backend} | {lib_single:,.0f} ev/s | {single_rate:,.0f} ev/s ({single_events:,} events) | "
            f"{single_rate / lib_single:.0%} | {lib_batch:,.0f} ev/s | {batch_rate:,.0f} ev/s ({batch_events:,} events"
            f" in {batch_secs:.1f} s) | {batch_rate / lib_batch:.0%} | {p50:.2f} / {p99:.2f} ms |"
        )
        print(row, flush=True)
        lines.append(row)
    lines += [
        "",
        "A command loads the person's stream, decides, and writes its events (a payment writes two: the",
        "payment and its idempotency-key claim) in one transaction; the library baseline writes one",
        "pre-built aggregate event per transaction. Query: fold one person's events and compute the",
        "enrollment view on a date.",
    ]
    write_section("Core: write path and per-person queries (`python bench/bench_core.py`)", lines)


if __name__ == "__main__":
    os.environ.setdefault("TQDM_DISABLE", "1")
    main()
