"""The HTTP stack's own cost: GET /healthz on `ledger serve` against the same route on a bare
FastAPI app (not a test):

    python bench/bench_http_stack.py [--seconds 6] [--rounds 3]

/healthz does nothing but answer, in both; what differs is what every request of the ledger goes
through: its middleware (request metrics, body limits, the console's headers), its routing among
all the API's and the console's routes, and its access log. Driven by wrk at concurrency 8, the
two in turn, round after round. Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_api import free_port  # noqa: E402
from bench.results import machine, write_section  # noqa: E402

BARE = '''
from fastapi import FastAPI

app = FastAPI()


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
'''


def start(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([*command, "--port", str(port)], cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/healthz"
    for _ in range(100):
        try:
            httpx.get(url, timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit(f"{command} did not start")


def wrk(url: str, seconds: int) -> float:
    out = subprocess.run(["wrk", "-t", "2", "-c", "8", "-d", f"{seconds}s", url], capture_output=True, text=True,
                         check=True).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "bare_app.py").write_text(BARE)
        env = {**os.environ, "LEDGER_DB": str(work / "ledger.db")}
        bare, bare_url = start([sys.executable, "-m", "uvicorn", "bare_app:app", "--no-access-log", "--log-level",
                                "warning"], work, env)
        ledger, ledger_url = start([sys.executable, "-m", "api.cli", "serve"], ROOT, env)
        try:
            wrk(bare_url, 2), wrk(ledger_url, 2)  # warm both
            rounds = [(wrk(bare_url, args.seconds), wrk(ledger_url, args.seconds)) for _ in range(args.rounds)]
        finally:
            for proc in (bare, ledger):
                proc.terminate()
                proc.wait()
    bare_rps = statistics.median(b for b, _ in rounds)
    ledger_rps = statistics.median(s for _, s in rounds)
    lines = [
        f"Machine: {machine()}. `python bench/bench_http_stack.py --seconds {args.seconds} --rounds {args.rounds}`:"
        " GET /healthz (an answer and nothing else) on `ledger serve` (SQLite) and on a bare FastAPI app on the"
        " same uvicorn, wrk at concurrency 8, in turn; the median round.",
        "",
        "| app | requests/s | each round |",
        "|---|---|---|",
        f"| bare FastAPI | {bare_rps:,.0f} | {', '.join(f'{b:,.0f}' for b, _ in rounds)} |",
        f"| `ledger serve` | {ledger_rps:,.0f} | {', '.join(f'{s:,.0f}' for _, s in rounds)} |",
        f"| ratio | **{ledger_rps / bare_rps:.2f}** | |",
    ]
    for line in lines:
        print(line)
    write_section("The HTTP stack alone: /healthz against a bare app", lines)


if __name__ == "__main__":
    main()
