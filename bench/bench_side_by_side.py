"""Rebuild and per-person query rates of two versions of the code on one store, alternating
(not a test): python bench/bench_side_by_side.py --old DIR [--backend sqlite|postgres] [--scale N] [--runs N]

`--old DIR` is a checkout of the earlier code (e.g. `git worktree add /tmp/old <commit>`). The
Qianjiang demo is written once, by the earlier code; then each run, old and new in turn, in its
own process: the projection rebuilt from zero (events/s), and 5,000 persons' coverage answers
asked one by one as the API asks them (queries/s). The new code also writes and rebuilds the
multi-year demo (its own store), for its figure alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import ledger_env, machine, pg_schema, write_section  # noqa: E402

# One measurement, run by `python -c` in the code under test (on its PYTHONPATH).
PROBE = r"""
import json, random, sys, time
from datetime import date
from domain.ledger import Ledger
from projections.service import Reports
kind = sys.argv[1]
ledger = Ledger()
if kind == "rebuild":
    reports = Reports(ledger.store, ledger.env)
    started = time.perf_counter()
    n = reports.follower.rebuild()
    print(json.dumps({"events": n, "seconds": time.perf_counter() - started}))
else:
    from api.services.demo import plan
    ids = [p.id_number for p in plan(int(sys.argv[2]), 2021)]
    random.Random(1).shuffle(ids)
    ids = ids[:5000]
    for number in ids[:200]:
        ledger.coverage(number, 2021, on=date(2021, 6, 30))
    started = time.perf_counter()
    for number in ids:
        ledger.coverage(number, 2021, on=date(2021, 6, 30)).to_api()
    print(json.dumps({"queries": len(ids), "seconds": time.perf_counter() - started}))
"""


def probe(code: Path, env: dict[str, str], *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE, *args], env={**os.environ, **env, "PYTHONPATH": str(code)},
                         capture_output=True, text=True, check=True, cwd=code)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ledger_cli(code: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "api.cli", *args], env={**os.environ, **env, "PYTHONPATH": str(code)},
                   check=True, cwd=code, capture_output=True)


def measure(backend: str, old: Path, scale: int, runs: int, work: Path, schema: str | None) -> list[str]:
    env = ledger_env(backend, work, schema)
    ledger_cli(old, env, "demo", "--scale", str(scale), "--quiet")
    results: dict[str, dict[str, list[float]]] = {"old": {"rebuild": [], "query": []}, "new": {"rebuild": [], "query": []}}
    events = 0
    for _ in range(runs):
        for label, code in (("old", old), ("new", ROOT)):
            r = probe(code, env, "rebuild")
            events = r["events"]
            results[label]["rebuild"].append(r["events"] / r["seconds"])
            q = probe(code, env, "query", str(scale))
            results[label]["query"].append(q["queries"] / q["seconds"])
    rows = []
    for what, unit in (("rebuild", "events/s"), ("query", "coverage answers/s")):
        old_m, new_m = statistics.median(results["old"][what]), statistics.median(results["new"][what])
        each = lambda xs: ", ".join(f"{x:,.0f}" for x in xs)  # noqa: E731
        rows.append(f"| {backend} | {what} ({events:,} events) | {each(results['old'][what])} (median {old_m:,.0f})"
                    f" | {each(results['new'][what])} (median {new_m:,.0f}) | {new_m / old_m - 1:+.1%} {unit} |")
    multi = work / "multi"
    multi.mkdir()
    menv = ledger_env(backend, multi, f"{schema}_m" if schema else None)
    if schema:
        import psycopg

        with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
            c.execute(f"CREATE SCHEMA {schema}_m")
    try:
        ledger_cli(ROOT, menv, "demo", "--multi-year", "--scale", str(max(scale // 5, 1)), "--quiet")
        r = probe(ROOT, menv, "rebuild")
        rows.append(f"| {backend} | rebuild, multi-year demo at 1/{max(scale // 5, 1)} ({r['events']:,} events) | - |"
                    f" {r['events'] / r['seconds']:,.0f} | - |")
    finally:
        if schema:
            with psycopg.connect("host=127.0.0.1 user=postgres dbname=test", autocommit=True) as c:
                c.execute(f"DROP SCHEMA {schema}_m CASCADE")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old", required=True, help="a checkout of the earlier code")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    old = Path(args.old).resolve()
    commit = subprocess.run(["git", "-C", str(old), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    lines = [f"Machine: {machine()}",
             f"`python bench/bench_side_by_side.py --old <checkout of {commit}> --scale {args.scale} --runs {args.runs}`:"
             f" the Qianjiang demo at 1/{args.scale} written once by the earlier code; each run, old then new, rebuilds"
             " the projection from zero and answers 5,000 persons' coverage one by one, each in its own process.",
             "", "| backend | what | old code | new code | change |", "|---|---|---|---|---|"]
    for backend in (["sqlite", "postgres"] if args.backend == "both" else [args.backend]):
        with tempfile.TemporaryDirectory() as tmp:
            if backend == "postgres":
                with pg_schema("side") as schema:
                    lines += measure(backend, old, args.scale, args.runs, Path(tmp), schema)
            else:
                lines += measure(backend, old, args.scale, args.runs, Path(tmp), None)
    write_section("Continuity rules: rebuild and per-person queries, old and new code side by side", lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
