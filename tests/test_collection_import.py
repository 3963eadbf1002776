"""The tax bureau's daily collection file: every outcome, both encodings and header languages,
idempotent re-imports, rows already posted through the API, and an import killed part-way."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest

from api.services.collection_import import FileProblem, Importer
from conftest import CLERK, event_count, make_id
from domain.dates import CHINA
from domain.ledger import Ledger

FIXTURES = Path(__file__).parent / "fixtures"
ROOT = Path(__file__).resolve().parents[1]
FILES = ["collections_zh_gb18030.csv", "collections_en_utf8_bom.csv", "collections_zh_utf8.csv"]
PEOPLE = {  # the persons the fixture files speak of
    "A": ("500110197001011018", "甲一", "500110001001"),
    "B": ("500110197102021020", "乙二", "500110001001"),
    "C": ("500110197203031033", "丙三", "500110001001"),
    "D": ("532301197304041048", "丁四", "532301101001"),
    "E": ("500110197405051059", "戊五", "500110001001"),
}
EXPECTED = {  # line -> outcome
    2: "posted", 3: "enrolled_and_posted", 4: "over_payment", 5: "refused_by_rule", 6: "name_mismatch",
    7: "unknown_person", 8: "duplicate_in_file", 9: "already_posted", 10: "malformed", 11: "malformed",
    12: "malformed", 13: "malformed", 14: "malformed", 15: "malformed",
}


def seed(ledger: Ledger) -> None:
    for key, (idn, name, region) in PEOPLE.items():
        ledger.register(CLERK, id_number=idn, name=name, region=region)
        if key != "B":  # B is registered but not enrolled
            ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 10, 1))
    # TX-P1 arrived through the API before the file did.
    ledger.pay(CLERK, id_number=PEOPLE["A"][0], year=2021, amount="50.00", channel="wechat",
               paid_at=datetime(2020, 11, 20, 10, tzinfo=CHINA), transaction_id="TX-P1", idempotency_key="api-1")


def run(ledger: Ledger, name: str):
    rows = []
    with open(FIXTURES / name, "rb") as f:
        summary = Importer(ledger).run_file(f, rows.append)
    return summary, rows


@pytest.mark.parametrize("name", FILES)
def test_every_outcome_in_each_encoding_and_header_language(ledger, name):
    seed(ledger)
    summary, rows = run(ledger, name)
    assert {r.line: r.outcome for r in rows} == EXPECTED
    assert not summary.ok
    by_line = {r.line: r for r in rows}
    assert "amount" in by_line[10].message and "paid_at" in by_line[11].message and "id_number" in by_line[12].message
    assert "year" in by_line[13].message and "tier" in by_line[14].message and "channel" in by_line[15].message
    assert by_line[9].payment_id is not None and by_line[8].payment_id == by_line[2].payment_id
    assert ledger.coverage(PEOPLE["A"][0], 2021).paid_fen == 15000  # 50 through the API + 100 from the file
    b = ledger.coverage(PEOPLE["B"][0], 2021)
    assert (b.tier, b.paid_fen, b.status) == (2, 65500, "paid")
    assert ledger.coverage(PEOPLE["C"][0], 2021).paid_fen == 0
    assert ledger.coverage(PEOPLE["D"][0], 2021).paid_fen == 0
    totals = summary.totals()
    assert {t["key"]: t["amount"] for t in totals["by_channel"]} == {"cash": "655.00", "wechat": "100.00"}
    assert {t["key"]: t["rows"] for t in totals["by_collection_point"]} == {"QJ-001": 1, "QJ-002": 1}


def test_the_same_file_twice_posts_nothing_the_second_time(ledger):
    seed(ledger)
    run(ledger, FILES[0])
    before = event_count(ledger)
    summary, rows = run(ledger, FILES[1])  # the same rows, the other encoding
    assert event_count(ledger) == before
    assert summary.counts["already_posted"] == 4  # TX-A1 (twice), TX-B1, TX-P1
    assert summary.counts["posted"] == summary.counts["enrolled_and_posted"] == 0


def test_a_file_partly_posted_through_the_api_posts_only_the_rest(ledger):
    seed(ledger)
    ledger.pay(CLERK, id_number=PEOPLE["A"][0], year=2021, amount="100.00", channel="wechat",
               paid_at=datetime(2020, 12, 1, 10, tzinfo=CHINA), transaction_id="TX-A1", idempotency_key="api-2")
    summary, rows = run(ledger, FILES[0])
    outcomes = {r.line: r.outcome for r in rows}
    assert outcomes[2] == outcomes[8] == "already_posted" and outcomes[3] == "enrolled_and_posted"
    assert ledger.coverage(PEOPLE["A"][0], 2021).paid_fen == 15000


def test_a_clean_file_exits_zero_and_a_bad_one_one(tmp_path, ledger, store_env):
    seed(ledger)
    good = tmp_path / "good.csv"
    good.write_text("transaction_id,id_number,name,year,tier,amount,paid_at,channel,collection_point,receipt_no\n"
                    f"TX-OK,{PEOPLE['C'][0]},丙三,2021,1,280.00,2020-12-05 08:00:00,wechat,QJ-9,\n", encoding="utf-8")
    env = cli_env(store_env)
    first = subprocess.run([sys.executable, "-m", "api.cli", "import", "collections", str(good), "--json"],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    body = json.loads(first.stdout)
    assert first.returncode == 0 and body["counts"]["posted"] == 1 and body["rows"][0]["id_number"].count("*") == 8
    again = subprocess.run([sys.executable, "-m", "api.cli", "import", "collections", str(good)], cwd=ROOT, env=env,
                           capture_output=True, text=True)
    assert again.returncode == 0 and "already_posted" in again.stdout
    report = tmp_path / "report.csv"
    bad = subprocess.run([sys.executable, "-m", "api.cli", "import", "collections", str(FIXTURES / FILES[0]),
                          "--report", str(report)], cwd=ROOT, env=env, capture_output=True, text=True)
    assert bad.returncode == 1
    lines = report.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("line,outcome,message") and len(lines) == 15


def test_a_file_that_is_not_a_collection_file_is_refused_whole(ledger):
    with pytest.raises(FileProblem) as e:
        Importer(ledger).run_file(io.BytesIO("名字,金额\n张三,1\n".encode()), lambda r: None)
    assert "transaction_id" in str(e.value) and event_count(ledger) == 0
    with pytest.raises(FileProblem):
        Importer(ledger).run_file(io.BytesIO(b""), lambda r: None)


def cli_env(store_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "POSTGRES_", "SQLITE_"))}
    if store_env["PERSISTENCE_MODULE"].endswith("sqlite"):
        env["LEDGER_DB"] = store_env["SQLITE_DBNAME"]
    else:
        env["LEDGER_DATABASE_URL"] = f"postgresql://postgres@{store_env['POSTGRES_HOST']}:{store_env['POSTGRES_PORT']}/{store_env['POSTGRES_DBNAME']}"
        env["LEDGER_DATABASE_SCHEMA"] = store_env["POSTGRES_SCHEMA"]
    return env


def _big_file(path: Path, ids: list[str], payments_each: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("transaction_id,id_number,name,year,tier,amount,paid_at,channel,collection_point,receipt_no\n")
        for n in range(payments_each):
            for i, idn in enumerate(ids):
                f.write(f"K-{n}-{i},{idn},批量,2021,2,1.00,2020-12-01 10:{n % 60:02d}:00,pos,QJ-{i % 7},\n")


def _state(ledger: Ledger, ids: list[str]) -> list[tuple]:
    return [(v.status, v.paid_fen, v.fully_paid_on) for v in (ledger.coverage(i, 2021) for i in ids)]


def test_an_import_killed_part_way_and_run_again_ends_as_one_clean_import(tmp_path, store_env, clock):
    ids = [make_id(date(1980, 1, 1) if n % 2 else date(1981, 1, 1), seq=500 + n) for n in range(400)]
    ledger = Ledger(env=store_env, clock=clock)
    with ledger.batch(2000):
        for idn in ids:
            ledger.register(CLERK, id_number=idn, name="批量", region="500110001001")
            ledger.enroll(CLERK, id_number=idn, year=2021, tier=2, enrolled_on=date(2020, 10, 1))
    big = tmp_path / "big.csv"
    _big_file(big, ids, 40)  # 16,000 rows
    env = cli_env(store_env)
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "import", "collections", str(big), "--quiet"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = event_count(ledger)
    deadline = time.monotonic() + 60
    while event_count(ledger) - base < 2000 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    partial = event_count(ledger) - base
    assert 0 < partial < 16_000 * 2, "the kill should land part-way"
    rerun = subprocess.run([sys.executable, "-m", "api.cli", "import", "collections", str(big), "--json", "--quiet"],
                           cwd=ROOT, env=env, capture_output=True, text=True)
    counts = json.loads(rerun.stdout)["counts"]
    assert rerun.returncode == 0 and counts["already_posted"] > 0 and counts["posted"] > 0
    assert counts["already_posted"] + counts["posted"] == 16_000
    # One clean import into a fresh store gives the same ledger.
    clean_env = dict(store_env, SQLITE_DBNAME=str(tmp_path / "clean.db")) if "SQLITE_DBNAME" in store_env else None
    if clean_env:
        clean = Ledger(env=clean_env, clock=clock)
        with clean.batch(2000):
            for idn in ids:
                clean.register(CLERK, id_number=idn, name="批量", region="500110001001")
                clean.enroll(CLERK, id_number=idn, year=2021, tier=2, enrolled_on=date(2020, 10, 1))
        with open(big, "rb") as f:
            Importer(clean).run_file(f, lambda r: None)
        assert _state(ledger, ids) == _state(clean, ids)
        assert event_count(ledger) - base == event_count(clean) - 2 * len(ids)  # no event more, none fewer
    assert all(paid == 4000 for _, paid, _ in _state(ledger, ids))
    ledger.close()
