"""The report projection at full scale: rebuild speed, and the enrollment report's latency as of a
past date and known at a past time, before and after 5 corrections per person.

    python bench/bench_projection.py [--backend sqlite|postgres|both] [--scale 1] [--corrections 5]

The Qianjiang demo (scale 1: 557,458 persons) is written through the ledger's command path, the
projection rebuilt from zero and timed, twice (right after the writing, then again over the
existing projection), then the enrollment report for 500114 is asked as of
2021-06-30 and as known at T0 (the moment the demo was written). Then every person's registration
is corrected 5 times (village moved back and forth between two townships, so every row of every
person gets a new version), the projection catches up, and the same question is asked again: the
answer must be identical (the corrections came after T0) and the latency must not grow. The report
known now (after the corrections) is timed too. Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.services.demo import plan, record_all  # noqa: E402
from bench.results import ledger_env, machine, pg_schema, write_section  # noqa: E402
from domain.dates import now  # noqa: E402
from domain.ledger import Actor, Ledger  # noqa: E402
from domain.store import storage_env  # noqa: E402
from projections.service import Reports  # noqa: E402

AS_OF = date(2021, 6, 30)
REGION, YEAR = "500114", 2021
BUREAU = Actor("bench-bureau", "bureau", "QJ-bureau")


def timed_reports(reports: Reports, known_at, runs: int = 7) -> tuple[dict, float, float]:
    """The report, with the median and the slowest of `runs` timings in ms (the first warms caches)."""
    times, report = [], None
    for _ in range(runs):
        started = time.perf_counter()
        report = reports.report("enrollment", REGION, YEAR, AS_OF, known_at)
        times.append((time.perf_counter() - started) * 1000)
    return report, statistics.median(times[1:]), max(times[1:])


def correct_everyone(ledger: Ledger, people: list, rounds: int) -> float:
    """`rounds` registration corrections per person, moving them between two townships' villages."""
    started = time.perf_counter()
    with ledger.batch(size=10**9):
        for start in range(0, len(people), 500):
            part = people[start:start + 500]
            ledger.prefetch([("resident_id", p.id_number) for p in part])
            for p in part:
                other = "500114002001" if not p.region.startswith("500114002") else "500114001001"
                for n in range(rounds):
                    ledger.correct_registration(BUREAU, id_number=p.id_number, reason=f"bench correction {n + 1}",
                                                region=other if n % 2 == 0 else p.region)
            ledger.flush()
    return time.perf_counter() - started


def run(backend: str, scale: int, corrections: int, workdir: Path, schema: str | None) -> list[str]:
    env = storage_env(ledger_env(backend, workdir, schema))
    ledger = Ledger(env=env)
    people = list(plan(scale, 2021))
    started = time.perf_counter()
    record_all(ledger, people, 300)
    written = time.perf_counter() - started
    t0 = now()
    reports = Reports(ledger.store, ledger.env)
    events = reports.follower.head()
    started = time.perf_counter()
    reports.follower.rebuild()
    rebuilt = time.perf_counter() - started
    # Again, as an operator would run it: over the existing projection, on a log read before.
    # (The first rebuild is also the first reader of the events just written; on PostgreSQL,
    # with autovacuum off as on this server, it sets every row's hint bits as it reads.)
    # Twice, as this VM's speed varies from one run to the next by as much as the figures compared.
    agains = []
    for _ in range(2):
        started = time.perf_counter()
        reports.follower.rebuild()
        agains.append(time.perf_counter() - started)
    rows = reports.views.counts()
    before, p50_0, max_0 = timed_reports(reports, t0)
    lines = [
        f"| {backend} | {len(people):,} persons, {events:,} events (written in {written:.0f} s) | rebuild from zero,"
        f" right after the writing: {rebuilt:.1f} s, {events / rebuilt:,.0f} events/s |",
        f"| {backend} | rebuild again (over the existing projection), twice | "
        + " and ".join(f"{t:.1f} s, **{events / t:,.0f} events/s**" for t in agains)
        + f"; {rows['person_rows']:,} person rows, {rows['payment_rows']:,} payment rows |",
        f"| {backend} | enrollment report, as of {AS_OF}, known at T0, 0 corrections | p50 **{p50_0:.0f} ms**,"
        f" max {max_0:.0f} ms (enrolled {before['total']['enrolled']:,}) |",
    ]
    if corrections:
        fixing = correct_everyone(ledger, people, corrections)
        head = reports.follower.head()
        started = time.perf_counter()
        applied = reports.follower.catch_up()
        caught = time.perf_counter() - started
        rows = reports.views.counts()
        after, p50_5, max_5 = timed_reports(reports, t0)
        assert after == before, "the report known at T0 changed after later corrections"
        _, p50_now, max_now = timed_reports(reports, None)
        lines += [
            f"| {backend} | {corrections} corrections per person: {head - events:,} events (written in {fixing:.0f} s) |"
            f" catch-up {caught:.1f} s, {applied / caught:,.0f} events/s; now {rows['person_rows']:,} person rows |",
            f"| {backend} | enrollment report, as of {AS_OF}, known at T0, {corrections} corrections per person since |"
            f" p50 **{p50_5:.0f} ms**, max {max_5:.0f} ms (same report as before: checked) |",
            f"| {backend} | enrollment report, as of {AS_OF}, known now (after the corrections) |"
            f" p50 {p50_now:.0f} ms, max {max_now:.0f} ms |",
        ]
    reports.close()
    ledger.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines.append(f"| {backend} | peak memory of the benchmark process | {peak:,.0f} MB |")
    for line in lines:
        print(line, flush=True)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--scale", type=int, default=1, help="1 = the full 557,458 persons")
    parser.add_argument("--corrections", type=int, default=5)
    parser.add_argument("--keep", help="keep the SQLite files in this directory (for inspection)")
    args = parser.parse_args()
    lines = [
        f"Machine: {machine()}. `python bench/bench_projection.py --scale {args.scale}`: the Qianjiang demo at"
        f" 1/{args.scale} scale, the projection rebuilt from zero, the enrollment report for {REGION} {YEAR} asked"
        f" as of {AS_OF} and known at T0 (when the demo was written), before and after {args.corrections}"
        " corrections per person (each moves the person to another township's village and back, so every row"
        " of every person gets a new version). Latency: median and slowest of 6 runs after one warm-up, through"
        " the same call the API and CLI make (catch-up check included).",
        "",
        "| backend | what | figures |",
        "|---|---|---|",
    ]
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        with tempfile.TemporaryDirectory() as d:
            if args.keep and backend == "sqlite":
                d = args.keep
                Path(d).mkdir(parents=True, exist_ok=True)
            if backend == "postgres":
                with pg_schema("bench_projection") as schema:
                    lines += run(backend, args.scale, args.corrections, Path(d), schema)
            else:
                lines += run(backend, args.scale, args.corrections, Path(d), None)
    write_section("Report projection", lines)


if __name__ == "__main__":
    main()
