"""What recording every read costs (not a test): python bench/bench_read_audit.py [--scale 400] [--rounds 5]

The demo's Qianjiang season at 1/scale on SQLite, served in-process. Alternating in one run, with
the access audit recording and with it switched off: county enrollment reports (each for another
as-of day, so none is a kept answer) and persons' coverage reads. Payments read nothing and are not
recorded. Figures go to bench/RESULTS.md ("Access audit").
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.results import machine, write_section  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--reports", type=int, default=10)
    parser.add_argument("--coverage", type=int, default=300)
    args = parser.parse_args()
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.auth import Tokens
    from api.services.demo import plan, record_all
    from domain.ledger import Ledger

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(Path(tmp) / "l.db")})
        persons = list(plan(args.scale, 2021))
        record_all(ledger, persons, 300)
        app = create_app(ledger)
        token = Tokens(ledger).create("auditor", [], None, "bench")[1]
        client = TestClient(app)
        auth = {"Authorization": f"Bearer {token}"}
        ids = [p.id_number for p in persons if p.payments][: args.coverage]
        client.get("/v1/reports/enrollment", params={"region": "500114", "year": 2021}, headers=auth)  # caught up
        audit, recording = app.state.read_audit, app.state.read_audit.record
        day = iter(range(10_000))
        timings: dict[tuple[str, bool], list[float]] = {}
        for _ in range(args.rounds):
            for on in (True, False):
                audit.record = recording if on else (lambda *a, **k: None)
                started = time.perf_counter()
                for _ in range(args.reports):
                    as_of = (date(2021, 1, 1) + timedelta(days=next(day) % 365)).isoformat()
                    r = client.get("/v1/reports/enrollment", params={"region": "500114", "year": 2021, "as_of": as_of},
                                   headers=auth)
                    assert r.status_code == 200
                timings.setdefault(("report", on), []).append((time.perf_counter() - started) / args.reports)
                started = time.perf_counter()
                for idn in ids:
                    assert client.get(f"/v1/persons/{idn}/coverage", params={"year": 2021},
                                      headers=auth).status_code == 200
                timings.setdefault(("coverage", on), []).append((time.perf_counter() - started) / len(ids))
        audit.record = recording
        audit.flush()
        recorded = audit.query(f"SELECT count(*) FROM {audit.table}")[0][0]
        ledger.close()
    lines = [f"Machine: {machine()}. {len(persons):,} persons (Qianjiang at 1/{args.scale}), SQLite, in-process"
             f" client; medians of {args.rounds} alternating rounds; {recorded:,} reads recorded in the run.", "",
             "| read | audit off | audit on | cost |", "|---|---|---|---|"]
    for kind, unit, label in (("report", 1e3, "county enrollment report (ms)"), ("coverage", 1e3, "coverage read (ms)")):
        off, on = statistics.median(timings[(kind, False)]), statistics.median(timings[(kind, True)])
        lines.append(f"| {label} | {off * unit:.2f} | {on * unit:.2f} | {(on - off) / off:+.1%} |")
    lines.append("| payment | not a read: nothing recorded | | 0 |")
    print("\n".join(lines))
    write_section("Access audit: the cost of recording every read (`python bench/bench_read_audit.py`)", lines)


if __name__ == "__main__":
    main()
