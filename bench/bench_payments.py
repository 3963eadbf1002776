"""Payments against a bare FastAPI endpoint, side by side (not a test):

    python bench/bench_payments.py [--seconds 8] [--rounds 3] [--workers 1,2]

Starts, once each, a bare FastAPI endpoint taking the same body on the same uvicorn (one worker,
and N workers where the ledger runs N), `ledger serve` on SQLite, and `ledger serve --workers N`
on PostgreSQL for each N of `--workers`. Then, for concurrency 8 and 32, round after round, each
ledger and the bare endpoint of its worker count are driven by wrk in turn (bare, ledger, bare,
ledger, ...), so that both see the same machine; the ratio of each pair is printed, and the
median over the rounds is written down with p99 latency, the non-2xx count, and the check that
every 201 answered is stored (payments counted in the store before and after: no fewer than the
201s, and no more than the requests wrk left unanswered when it stopped).
Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_api import BARE_APP, LUA, free_port, populate, run_wrk, wait_up  # noqa: E402
from bench.results import ledger_env, machine, pg_schema, write_section  # noqa: E402


def count_payments(env: dict[str, str]) -> int:
    """Payments in the store of `env` (each its own, whatever this process's environment says)."""
    from eventsourcing.utils import get_topic

    from domain.events import PaymentRecorded
    from domain.ledger import Ledger
    from domain.store import storage_env

    ledger = Ledger(env=storage_env(env))
    topic, n, start = get_topic(PaymentRecorded), 0, 1
    while page := ledger.store.recorder.select_notifications(start=start, limit=10_000, topics=[topic]):
        n += len(page)
        start = page[-1].id + 1
    ledger.close()
    return n


@contextmanager
def server(command: list[str], env: dict[str, str], cwd: Path):
    port = free_port()
    proc = subprocess.Popen([*command, "--port", str(port)], env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_up(port, proc)
        yield f"http://127.0.0.1:{port}/v1/payments"
    finally:
        proc.terminate()
        proc.wait(30)


def ledger_server(backend: str, workers: int, work: Path, stack: ExitStack) -> tuple[str, str, dict[str, str]]:
    """A populated ledger served: its URL, a collector's token, its settings."""
    schema = stack.enter_context(pg_schema("bench_pay")) if backend == "postgres" else None
    folder = work / f"{backend}-{workers}"
    folder.mkdir()
    env = ledger_env(backend, folder, schema)
    env["LEDGER_LOG_KEY"] = str(folder / "log-key")
    if backend == "postgres":
        env["LEDGER_POOL_SIZE"] = "16"
    populate(env, folder / "ids.txt")
    cli_env = {**os.environ, **env}
    token = subprocess.run([sys.executable, "-m", "api.cli", "token", "create", "--role", "collector", "--point", "B-1"],
                           env=cli_env, cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.strip().splitlines()[-1]
    url = stack.enter_context(server([sys.executable, "-m", "api.cli", "serve", "--no-access-log", "--log-level",
                                      "warning", "--workers", str(workers)], cli_env, ROOT))
    return url, token, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="PostgreSQL worker counts to try")
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is needed: apt-get install wrk")
    os.environ["TQDM_DISABLE"] = "1"
    pg_workers = [int(w) for w in args.workers.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        (work / "bare_app.py").write_text(BARE_APP)
        (work / "pay.lua").write_text(LUA)
        configs = [("sqlite", 1)] if "sqlite" in args.backends else []
        configs += [("postgres", w) for w in pg_workers] if "postgres" in args.backends else []
        ledgers = {c: ledger_server(*c, work, stack) for c in configs}
        shutil.copy(work / f"{configs[0][0]}-{configs[0][1]}" / "ids.txt", work / "ids.txt")
        bare = {w: stack.enter_context(server([sys.executable, "-m", "uvicorn", "bare_app:app", "--no-access-log",
                                               "--log-level", "warning", "--workers", str(w)], dict(os.environ), work))
                for w in sorted({w for _, w in configs})}
        for concurrency in (8, 32):
            for (backend, workers), (url, token, env) in ledgers.items():
                ids = work / f"{backend}-{workers}" / "ids.txt"
                ratios, runs, bares = [], [], []
                for _ in range(args.rounds):
                    b = run_wrk(bare[workers], "none", work / "pay.lua", ids, concurrency, args.seconds)
                    before = count_payments(env)
                    r = run_wrk(url, token, work / "pay.lua", ids, concurrency, args.seconds)
                    stored = count_payments(env) - before
                    ok = r["total"] - r["non2xx"]
                    # wrk stops with up to `concurrency` requests sent whose answers it does not wait for.
                    assert ok <= stored <= ok + concurrency, f"{ok} answered 201 but {stored} stored"
                    ratios.append(r["rps"] / b["rps"])
                    runs.append(r)
                    bares.append(b)
                    print(f"{backend} workers={workers} c={concurrency}: ledger {r['rps']:,.0f}/s (p99 {r['p99']},"
                          f" {r['non2xx']} non-2xx), bare {b['rps']:,.0f}/s: {ratios[-1]:.2f}", flush=True)
                middle = sorted(range(len(ratios)), key=ratios.__getitem__)[len(ratios) // 2]
                r, b = runs[middle], bares[middle]
                rows.append(f"| {backend} | {workers} | {concurrency} | {r['rps']:,.0f} | {r['p50']} | {r['p99']} |"
                            f" {b['rps']:,.0f} | **{ratios[middle]:.2f}** ({', '.join(f'{x:.2f}' for x in ratios)}) |"
                            f" {sum(x['non2xx'] for x in runs)} | every 201 stored |")
    lines = [
        f"Machine: {machine()}; wrk 4.1 on the same machine. `python bench/bench_payments.py --seconds {args.seconds}"
        f" --rounds {args.rounds} --workers {args.workers}`: each payment a durable transaction (SQLite WAL,"
        " synchronous=FULL; PostgreSQL commit) paying 1.00 with a new Idempotency-Key; the bare endpoint (same"
        " body, a pydantic model, nothing stored) with as many uvicorn workers as the ledger, driven in turn with"
        " it; the median round's figures.",
        "",
        "| backend | workers | concurrency | payments/s | p50 | p99 | bare endpoint/s | ratio (each round) | non-2xx |"
        " check |",
        "|---|---|---|---|---|---|---|---|---|---|",
        *rows,
    ]
    print("\n".join(lines))
    write_section("Payments against a bare FastAPI endpoint, side by side", lines)


if __name__ == "__main__":
    main()
