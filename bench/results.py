"""bench/RESULTS.md: each benchmark rewrites its own section and leaves the others."""

from __future__ import annotations

import os
import platform
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).parent / "RESULTS.md"
PG_DSN = "host=127.0.0.1 user=postgres dbname=test"


@contextmanager
def pg_schema(prefix: str) -> Iterator[str]:
    """A fresh schema in the local PostgreSQL for one benchmark run, dropped afterwards."""
    import psycopg

    schema = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_DSN, autocommit=True) as c:
        c.execute(f"CREATE SCHEMA {schema}")
    try:
        yield schema
    finally:
        with psycopg.connect(PG_DSN, autocommit=True) as c:
            c.execute(f"DROP SCHEMA {schema} CASCADE")


def ledger_env(backend: str, workdir: Path, schema: str | None) -> dict[str, str]:
    """The ledger's own settings (LEDGER_DB or LEDGER_DATABASE_URL) for a benchmark run."""
    if backend == "sqlite":
        return {"LEDGER_DB": str(workdir / "ledger.db")}
    return {"LEDGER_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test", "LEDGER_DATABASE_SCHEMA": str(schema)}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, AttributeError):
        mem = "?"
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem} memory, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; measured {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC;"
        f" reference loop {reference_loop():.2f} s"
    )


def reference_loop() -> float:
    """CPU seconds of a fixed pure-Python loop (20 million additions). A shared VM's speed drifts
    by more than most changes it is asked to measure; this says how fast it was at the time, so
    figures from different runs can be compared (lower is faster)."""
    started = time.process_time()
    x = 0
    for i in range(20_000_000):
        x += i & 7
    return time.process_time() - started


def write_section(title: str, lines: list[str]) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    section = f"## {title}\n\n" + "\n".join(lines) + "\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    RESULTS.write_text(text, encoding="utf-8")
