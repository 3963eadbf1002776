"""Where a payment's time goes, stage by stage (not a test):

    python bench/bench_payment_stages.py [--payments 3000]

Runs the payment request's own work in one thread, one payment after another, without HTTP, on
SQLite and on PostgreSQL, and times each stage by wrapping the functions the request calls (the
product's own functions, not copies): the body parsed and validated by the API's model and its
fingerprint; the token check (a token seen within seconds, as under load); the person and the
key's claim read and folded; the decision (the policy's checks, the events made); the events
encoded; the transaction (insert and commit, fsync included); the coverage answer; the response
encoded. Figures are microseconds per payment, median of three rounds. The HTTP server and
framework's share is the bare endpoint's time per request in bench/bench_payments.py.
Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import ledger_env, machine, pg_schema, write_section  # noqa: E402

STAGES = ["parse and validate the body", "token check", "read and fold the person and claim", "decide",
          "encode the events", "insert and commit", "coverage answer", "encode the response"]


class Stopwatch:
    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)

    def wrap(self, owner: object, name: str, stage: str) -> None:
        """Time every call of owner.name under `stage` (the time of stages inside it is taken out)."""
        inner = getattr(owner, name)
        spent = self.spent

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - started
        setattr(owner, name, timed)


def run(backend: str, payments: int, workdir: Path, schema: str | None) -> dict[str, float]:
    import msgspec

    import domain.commands.payment as payment_module
    from api.auth import Tokens
    from api.schemas import Pay
    from domain.ledger import Actor, Ledger
    from domain.store import storage_env
    from domain.unit_of_work import UnitOfWork

    ledger = Ledger(env=storage_env(ledger_env(backend, workdir, schema)))
    clerk = Actor("bench-clerk", "collector", "QJ-001")
    tokens = Tokens(ledger)
    _, token = tokens.create("collector", [], "QJ-001", "bench-clerk")
    numbers = enrolled(ledger, clerk, payments)
    watch = Stopwatch()
    watch.wrap(UnitOfWork, "prefetch", "read and fold the person and claim")
    watch.wrap(ledger.store.mapper, "to_stored_event", "encode the events")
    watch.wrap(ledger.store, "insert_stored", "insert and commit")
    watch.wrap(payment_module, "enrollment_view", "coverage answer")
    total = 0.0
    for n, number in enumerate(numbers):
        raw = json.dumps({"id_number": number, "year": 2021, "amount": "1.00", "channel": "pos",
                          "paid_at": "2020-11-05T09:00:00+08:00"}).encode()
        started = time.perf_counter()
        body = Pay.model_validate_json(raw)
        data = body.model_dump()
        signed = body.model_dump(mode="json", exclude={"repair_year", "document_type"})
        fingerprint = hashlib.sha256(json.dumps(signed, sort_keys=True).encode()).hexdigest()
        parsed = time.perf_counter()
        tokens.cached(token) or tokens.verify(token)
        checked = time.perf_counter()
        result = ledger.pay(clerk, idempotency_key=f"k-{n}", fingerprint=fingerprint, **data)
        paid = time.perf_counter()
        msgspec.json.encode({"payment_id": result.payment_id, "enrollment": result.view.to_api()})
        ended = time.perf_counter()
        watch.spent["parse and validate the body"] += parsed - started
        watch.spent["token check"] += checked - parsed
        watch.spent["encode the response"] += ended - paid
        watch.spent["pay"] += paid - checked
        total += ended - started
    ledger.close()
    inside = sum(watch.spent[s] for s in ("read and fold the person and claim", "encode the events",
                                          "insert and commit", "coverage answer"))
    figures = {stage: watch.spent[stage] for stage in STAGES if stage != "decide"}
    figures["decide"] = watch.spent["pay"] - inside  # what ledger.pay spent outside the timed stages
    figures["all"] = total
    return {stage: seconds / payments * 1e6 for stage, seconds in figures.items()}


def enrolled(ledger, clerk, count: int) -> list[str]:
    """`count` persons registered and enrolled for 2021, in batches."""
    from datetime import timedelta

    from domain.idnumber import check_character

    numbers = []
    for n in range(count):
        base = f"500110{date(1950, 1, 1) + timedelta(days=n % 20000):%Y%m%d}{n // 20000:03d}"
        numbers.append(base + check_character(base))
    with ledger.batch(500):
        for number in numbers:
            ledger.register(clerk, id_number=number, name="王芳", region="500110001001")
            ledger.enroll(clerk, id_number=number, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
    return numbers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", dest="write", action="store_false", help="print only")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgres": []}
    for _ in range(args.rounds):
        for backend in results:
            with tempfile.TemporaryDirectory() as tmp:
                if backend == "sqlite":
                    results[backend].append(run(backend, args.payments, Path(tmp), None))
                else:
                    with pg_schema("bench_stages") as schema:
                        results[backend].append(run(backend, args.payments, Path(tmp), schema))
    median = {b: {s: statistics.median(r[s] for r in rounds) for s in [*STAGES, "all"]} for b, rounds in results.items()}
    lines = [
        f"Machine: {machine()}. `python bench/bench_payment_stages.py --payments {args.payments}"
        f" --rounds {args.rounds}`: {args.payments:,} payments to as many enrolled persons, one after another in"
        " one thread, no HTTP; each stage timed by wrapping the product's own functions; microseconds per"
        " payment, median of the rounds.",
        "",
        "| stage | SQLite µs | share | PostgreSQL µs | share |",
        "|---|---|---|---|---|",
    ]
    for stage in [*STAGES, "all"]:
        s, p = median["sqlite"][stage], median["postgres"][stage]
        lines.append(f"| {stage} | {s:,.0f} | {s / median['sqlite']['all']:.0%} | {p:,.0f} |"
                     f" {p / median['postgres']['all']:.0%} |")
    for line in lines:
        print(line)
    if args.write:
        write_section("Where a payment's time goes, stage by stage", lines)


if __name__ == "__main__":
    main()
