"""Benchmark of the daily-file import (not a test): python bench/bench_import.py [--rows 1000000] [--backends sqlite,postgres]

Registers and enrolls (tier 2, 655.00 due) one person per ten rows, writes a CSV of `--rows`
payments of 1.00 (ten per person, each with its own transaction id), then runs
`ledger import collections FILE --quiet` as a separate process and measures rows per second and
its peak resident memory. Figures go to bench/RESULTS.md ("Import").
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from contextlib import nullcontext  # noqa: E402

from bench.results import ledger_env, machine, pg_schema, write_section  # noqa: E402

PER_PERSON = 10


def people(n: int) -> list[str]:
    import random

    from api.services.demo import _id_number

    rng, used = random.Random(11), set()
    return [_id_number(rng, date(1950 + i % 50, 1 + i % 12, 1 + i % 28), used) for i in range(n)]


def populate(env: dict[str, str], ids: list[str]) -> None:
    from domain.ledger import Actor, Ledger

    os.environ.update(env)
    ledger = Ledger()
    clerk = Actor("bench", "collector", "B-1")
    with ledger.batch(size=4000):
        for idn in ids:
            ledger.register(clerk, id_number=idn, name="压测", region="500110001001")
            ledger.enroll(clerk, id_number=idn, year=2021, tier=2, enrolled_on=date(2020, 10, 1))
    ledger.close()


def write_file(path: Path, ids: list[str], rows: int) -> None:
    channels = ["wechat", "alipay", "pos", "bank", "tax_hall", "app"]
    with open(path, "w", encoding="utf-8") as f:
        f.write("缴费流水号,证件号码,姓名,缴费年度,档次,缴费金额,缴费时间,缴费渠道,征收点,票据号\n")
        for n in range(rows):
            idn = ids[n // PER_PERSON]
            f.write(f"T{n:09d},{idn},压测,2021,2,1.00,2020-12-{1 + n % 20:02d} 10:{n % 60:02d}:00,"
                    f"{channels[n % 6]},QJ-{n % 40:03d},\n")


def run(backend: str, rows: int, work: Path) -> str:
    with pg_schema("bench_imp") if backend == "postgres" else nullcontext() as schema:
        env = ledger_env(backend, work, schema)
        ids = people(rows // PER_PERSON)
        populate(env, ids)
        file = work / "daily.csv"
        write_file(file, ids, rows)
        size_mb = file.stat().st_size / 1e6
        t = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "api.cli", "import", "collections", str(file), "--quiet"],
                                env={**os.environ, **env}, cwd=ROOT, capture_output=True, text=True)
        elapsed = time.perf_counter() - t
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    posted = next((line.split()[1] for line in result.stdout.splitlines() if line.strip().startswith("posted ")), "?")
    line = (f"| {backend} | {rows:,} ({size_mb:.0f} MB) | {elapsed:.1f} s | {rows / elapsed:,.0f} rows/s | "
            f"{peak_mb:,.0f} MB | {posted} posted, exit {result.returncode} |")
    print(line, flush=True)
    return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    os.environ["TQDM_DISABLE"] = "1"
    lines = [
        f"Machine: {machine()}",
        f"One person per {PER_PERSON} rows, registered and enrolled beforehand; every row a new transaction id"
        " paying 1.00. The import runs as its own process (`ledger import collections FILE --quiet`); peak memory"
        " is that process's maximum resident set size. Backends run one after the other, so the second peak is"
        " the larger of the two.",
        "",
        "| backend | rows (file size) | time | rows/s | peak memory | outcome |",
        "|---|---|---|---|---|---|",
    ]
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            lines.append(run(backend, args.rows, Path(tmp)))
    write_section("Import: the tax bureau's daily file (`python bench/bench_import.py`)", lines)


if __name__ == "__main__":
    main()
