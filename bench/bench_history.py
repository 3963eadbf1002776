"""A bureau's first load on PostgreSQL, side by side with raw COPY (not a test):

    python bench/bench_history.py [--persons 100000]

Writes a history file of `--persons` persons of Qianjiang (one row each: registered, enrolled for
2021 and paid in full; one in ten also certified 低保对象, with nothing to pay), runs
`ledger import history FILE --quiet` as its own process into a fresh schema, and counts the events
it wrote per second. Then, side by side: the same file's rows loaded by a raw `COPY` into a
table of text columns, and the events the load wrote copied out of the ledger and back by a raw
`COPY` into an empty table of the ledger's own shape (its indexes included): what PostgreSQL
itself takes for the same rows and the same events. Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import io
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.services.demo import _id_number  # noqa: E402
from api.services.history_import import HEADERS  # noqa: E402
from bench.results import PG_DSN, ledger_env, machine, pg_schema, write_section  # noqa: E402


def history_file(path: Path, persons: int) -> None:
    assert all(h in HEADERS for h in HEADERS_ORDER)
    rng, used = random.Random(7), set()
    lines = [",".join(HEADERS_ORDER)]
    for n in range(persons):
        idn = _id_number(rng, date(1940 + n % 60, 1 + n % 12, 1 + n % 28), used)
        village = f"500114{1 + n % 6:03d}{1 + n % 12:03d}"
        if n % 10 == 0:
            lines.append(f"{idn},张三,{village},2021,1,,2020-10-01,低保对象,2019-06-01,,,,,,")
        else:
            lines.append(f"{idn},李四,{village},2021,1,,2020-10-01,,,280.00,2020-10-02 10:00:00,微信,T-{n},"
                         f"QJ-{1 + n % 6:03d},")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


HEADERS_ORDER = ["证件号码", "姓名", "村（社区）代码", "参保年度", "档次", "参保身份", "参保日期", "身份类别", "认定日期",
                 "缴费金额", "缴费时间", "缴费渠道", "缴费流水号", "征收点", "票据号"]


def events_table(c: psycopg.Connection, schema: str) -> str:
    return c.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_name LIKE"
                     " '%%events' ORDER BY table_name LIMIT 1", (schema,)).fetchone()[0]


def raw_copies(schema: str, path: Path) -> tuple[float, int, float, int]:
    """(seconds, rows) of a raw COPY of the file's rows; (seconds, events) of a raw COPY of the
    events the load wrote into an empty table of the same shape and indexes."""
    with psycopg.connect(PG_DSN, autocommit=True) as c:
        columns = ", ".join(f"c{i} text" for i in range(len(HEADERS_ORDER)))
        c.execute(f"CREATE TABLE {schema}.raw_rows ({columns})")
        started = time.perf_counter()
        with c.cursor().copy(f"COPY {schema}.raw_rows FROM STDIN (FORMAT csv, HEADER true)") as copy:
            copy.write(path.read_bytes())
        rows_s = time.perf_counter() - started
        rows = c.execute(f"SELECT count(*) FROM {schema}.raw_rows").fetchone()[0]

        table = events_table(c, schema)
        out = io.BytesIO()
        with c.cursor().copy(f"COPY {schema}.{table} TO STDOUT (FORMAT binary)") as copy:
            for block in copy:
                out.write(block)
        c.execute(f"CREATE TABLE {schema}.raw_events (LIKE {schema}.{table} INCLUDING ALL)")
        started = time.perf_counter()
        with c.cursor().copy(f"COPY {schema}.raw_events FROM STDIN (FORMAT binary)") as copy:
            copy.write(out.getvalue())
        events_s = time.perf_counter() - started
        events = c.execute(f"SELECT count(*) FROM {schema}.raw_events").fetchone()[0]
    return rows_s, rows, events_s, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as d, pg_schema("bench_history") as schema:
        path = Path(d) / "history.csv"
        history_file(path, args.persons)
        env = {**ledger_env("postgres", Path(d), schema), "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "api.cli", "import", "history", str(path), "--quiet"], env=env,
                              capture_output=True, text=True)
        load_s = time.perf_counter() - started
        assert done.returncode == 0, done.stdout + done.stderr
        rows_s, rows, events_s, events = raw_copies(schema, path)
    load_rate = events / load_s
    lines = [
        f"Machine: {machine()}. `python bench/bench_history.py --persons {args.persons}`: a history file of"
        f" {args.persons:,} persons ({rows:,} rows; nine in ten paid in full, one in ten 低保对象 with nothing to"
        " pay), loaded into a fresh PostgreSQL schema by `ledger import history` as its own process, then the"
        " same rows and the same events by raw COPY.",
        "",
        "| what | time | rate |",
        "|---|---|---|",
        f"| `ledger import history` (the commands' rules and checks, 2,000 rows a transaction) | {load_s:.1f} s |"
        f" **{load_rate:,.0f} events/s** ({events:,} events), {rows / load_s:,.0f} rows/s |",
        f"| raw COPY of the file's rows into a table of text columns | {rows_s:.2f} s | {rows / rows_s:,.0f} rows/s |",
        f"| raw COPY of the load's events into an empty table of the ledger's shape and indexes | {events_s:.2f} s |"
        f" {events / events_s:,.0f} events/s |",
        f"| the load against the raw COPY of its events | | **{load_rate / (events / events_s):.2f}** |",
    ]
    print("\n".join(lines))
    write_section("A first load: ledger import history against raw COPY", lines)


if __name__ == "__main__":
    main()
