"""`ledger log verify` in the 国密 mode against Ed25519/SHA-256, side by side (not a test):

    python bench/bench_log_sm.py [--scale 20] [--rounds 3]

The full demo (`ledger demo`, 1/scale of Qianjiang) is written once into a SQLite file; two copies
of it get a log each, one made with ed25519-sha256 and one with sm2-sm3 (the same events, so the
same leaves); then `verify` (every leaf recomputed from the stored events, the tree from the
leaves, every checkpoint's signature checked) runs on each in turn, round after round. The median
rates and their ratio go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import machine, write_section  # noqa: E402
from domain.ledger import Ledger  # noqa: E402
from domain.store import storage_env  # noqa: E402
from projections.tlog import VerifiableLog, verify  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "demo.db"
        subprocess.run([sys.executable, "-m", "api.cli", "demo", "--scale", str(args.scale), "--quiet"], cwd=work,
                       env={"LEDGER_DB": str(source), "LEDGER_LOG_KEY": str(work / "demo.key"), "PATH": "/usr/bin:/bin",
                            "PYTHONPATH": str(ROOT)}, check=True, capture_output=True)
        logs = {}
        for algorithms in ("ed25519-sha256", "sm2-sm3"):
            copy = work / f"{algorithms}.db"
            shutil.copy(source, copy)
            env = storage_env({"LEDGER_DB": str(copy)})
            ledger = Ledger(env=env)
            for table in ("tlog_tiles", "tlog_runs", "tlog_state", "tlog_checkpoints", "tlog_settings"):
                with ledger.store.recorder.datastore.transaction(commit=True) as c:
                    c.execute(f"DROP TABLE IF EXISTS {table}")  # the demo's own log: made again below
            log = VerifiableLog(ledger.store, "ledger.example/bench", work / f"{algorithms}.key", env, algorithms)
            started = time.perf_counter()
            log.catch_up()
            log.checkpoint()
            logs[algorithms] = (log, time.perf_counter() - started)
        rates: dict[str, list[float]] = {a: [] for a in logs}
        events = 0
        for _ in range(args.rounds):
            for algorithms, (log, _) in logs.items():
                started = time.perf_counter()
                verdict = verify(log)
                took = time.perf_counter() - started
                assert verdict.ok, verdict.problem
                events = verdict.checked
                rates[algorithms].append(events / took)
                print(f"{algorithms}: {events / took:,.0f} events/s", flush=True)
    sha, sm = statistics.median(rates["ed25519-sha256"]), statistics.median(rates["sm2-sm3"])
    lines = [
        f"Machine: {machine()}. `python bench/bench_log_sm.py --scale {args.scale} --rounds {args.rounds}`: the demo"
        f" at 1/{args.scale} ({events:,} events) on SQLite, its log made once with each algorithm; `verify` on each"
        " in turn (median of the rounds).",
        "",
        "| log | tree made from the events | `ledger log verify` | against Ed25519/SHA-256 |",
        "|---|---|---|---|",
        f"| ed25519-sha256 | {logs['ed25519-sha256'][1]:.1f} s | {sha:,.0f} events/s | 1 |",
        f"| sm2-sm3 (国密) | {logs['sm2-sm3'][1]:.1f} s | {sm:,.0f} events/s | **{sm / sha:.2f}** |",
    ]
    print("\n".join(lines))
    write_section("The verifiable log in the 国密 mode: verify against SHA-256", lines)


if __name__ == "__main__":
    main()
