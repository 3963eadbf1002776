"""A bureau's first load (`ledger import history`), as an operator runs it: every row's outcome, a
hostile file, both encodings, a load run again, and a load killed part-way and run again, on
SQLite and PostgreSQL."""

import json
import signal
import subprocess
import sys
import time
from datetime import date

import pytest

from conftest import event_count, ledger_environ, make_id
from domain.errors import NotFound
from domain.ledger import Ledger
from projections.service import Reports

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
HEADER = "证件号码,姓名,村（社区）代码,参保年度,档次,参保身份,参保日期,身份类别,认定日期,缴费金额,缴费时间,缴费渠道,缴费流水号,征收点,票据号"
ENGLISH = ("id_number,name,region,year,tier,cohort,enrolled_on,category,certified_on,amount,paid_at,channel,"
           "transaction_id,collection_point,receipt_no")

A = make_id(date(1970, 1, 1), area="500114", seq=11)
B = make_id(date(1971, 2, 2), area="500114", seq=12)
C = make_id(date(1972, 3, 3), area="500114", seq=13)
D = make_id(date(1973, 4, 4), area="500114", seq=14)
E = make_id(date(1974, 5, 5), area="500114", seq=15)

ROWS = [  # (line, text, expected outcome)
    (2, f"{A},甲一,500114001001,2021,1,居民,2020-10-08,,,280.00,2020-10-09 10:00:00,微信,H-1,QJ-001,", "recorded"),
    # a partial payment first and the rest later, the later one listed first
    (3, f"{B},乙二,500114001002,2021,1,,2020-11-01,,,180.00,2021-01-10 09:00:00,银行,H-3,QJ-001,", "recorded"),
    (4, f"{B},乙二,500114001002,2021,1,,2020-11-01,,,100.00,2020-11-02 09:00:00,cash,H-2,QJ-001,R-77", "recorded"),
    # enrolled under a category, nothing to pay (低保: a full subsidy), no payment row
    (5, f"{C},丙三,500114002001,2021,1,,2020-10-01,低保对象,2019-06-01,,,,,,", "recorded"),
    (6, f"{A},甲一,500114001001,2021,1,居民,2020-10-08,,,280.00,2020-10-09 10:00:00,微信,H-1,QJ-001,",
     "duplicate_in_file"),
    # the same person in another county: registered once
    (7, f"{A},甲一,500110001001,2022,1,,2021-10-01,,,,,,,,", "registration_differs"),
    # more than the contribution
    (8, f"{D},丁四,500114001001,2021,1,,2020-10-01,,,900.00,2020-10-02 10:00:00,微信,H-4,QJ-001,", "over_payment"),
    # a payment in the future, an enrollment before the year's window, an unknown channel
    (9, f"{E},戊五,500114001001,2021,1,,2020-10-01,,,280.00,2030-10-02 10:00:00,微信,H-5,QJ-001,", "malformed"),
    (10, f"{E},戊五,500114001001,2021,1,,2019-10-01,,,,,,,,", "malformed"),
    (11, f"{E},戊五,500114001001,2021,1,,2020-10-01,,,280.00,2020-10-02 10:00:00,飞鸽,H-6,QJ-001,", "malformed"),
    # half a payment's fields, a bad tier, a bad identity number
    (12, f"{E},戊五,500114001001,2021,1,,2020-10-01,,,280.00,,,,,", "malformed"),
    (13, f"{E},戊五,500114001001,2021,3,,2020-10-01,,,,,,,,", "malformed"),
    (14, "500114197405051050,戊五,500114001001,2021,1,,2020-10-01,,,,,,,,", "malformed"),
    # a truncated last line
    (15, f"{E},戊五,500114001", "malformed"),
]


def write(path, rows, encoding="utf-8", header=HEADER):
    path.write_bytes(("\n".join([header, *(text for _, text, _ in rows)]) + "\n").encode(encoding))
    return path


def load(store_env, path, *more, check=False):
    result = subprocess.run([sys.executable, "-m", "api.cli", "import", "history", str(path), "--json", "--quiet",
                             *more], cwd=ROOT, env={**ledger_environ(store_env), "PYTHONPATH": str(ROOT)},
                            capture_output=True, text=True)
    assert "Traceback" not in result.stderr, result.stderr
    return result


def collections(store_env):
    ledger = Ledger(env=store_env)
    reports = Reports(ledger.store, ledger.env)
    try:
        return reports.report("collections", "500114", 2021, date(2021, 12, 31))["total"]
    finally:
        reports.close()
        ledger.close()


def test_each_row_gets_its_outcome_and_nothing_partial_is_written(store_env, tmp_path):
    path = write(tmp_path / "history.csv", ROWS, "gb18030")
    result = load(store_env, path)
    answer = json.loads(result.stdout)
    outcomes = {r["line"]: r["outcome"] for r in answer["rows"]}
    assert outcomes == {line: outcome for line, _, outcome in ROWS}
    assert result.returncode == 1  # some rows were refused
    messages = {r["line"]: r["message"] for r in answer["rows"]}
    assert "registered" in messages[2] and "enrolled for 2021" in messages[2] and "280.00 posted" in messages[2]
    assert "dibao certified" in messages[5]
    assert "registered once" in messages[7] and "paid_at" in messages[9] and "channel" in messages[11]
    assert "enrolled_on" in messages[10] and "before 1 January" in messages[10]
    assert "amount" in messages[12] or "paid_at" in messages[12]
    assert all(A not in r["id_number"] for r in answer["rows"])  # identity numbers masked in the answer

    ledger = Ledger(env=store_env)
    try:
        assert ledger.coverage(A, 2021).status == "paid"
        assert ledger.coverage(B, 2021).paid_fen == 28000
        assert ledger.coverage(C, 2021).subsidy is not None and ledger.coverage(C, 2021).payable_fen == 0
        assert 2022 not in ledger.current_person(A).enrollments  # the refused row wrote nothing
        for refused in (D, E):  # every row of these was refused: not even registered
            with pytest.raises(NotFound):
                ledger.events_of(refused)
    finally:
        ledger.close()
    # The answer's totals are what the ledger now holds.
    held = collections(store_env)
    in_answer = answer["totals"]["payments_in_ledger_by_channel"]
    assert sum(t["rows"] for t in in_answer) == held["payments"] == 3
    assert sum(int(t["amount"].replace(".", "")) for t in in_answer) == int(held["amount"].replace(".", ""))


def test_a_load_run_again_writes_nothing(store_env, tmp_path):
    path = write(tmp_path / "history.csv", ROWS[:4], header=ENGLISH)
    assert load(store_env, path).returncode == 0
    ledger = Ledger(env=store_env)
    before = event_count(ledger)
    again = json.loads(load(store_env, path).stdout)
    assert event_count(ledger) == before
    ledger.close()
    assert again["counts"]["already_recorded"] == 4 and again["counts"]["recorded"] == 0
    assert sum(t["rows"] for t in again["totals"]["payments_in_ledger_by_channel"]) == 3


def test_a_file_neither_utf8_nor_gb18030_is_refused_whole(store_env, tmp_path):
    path = tmp_path / "history.csv"
    path.write_bytes((HEADER + "\n").encode("utf-8") + ROWS[0][1].encode("utf-8") + b"\xff\xfe\n")
    result = load(store_env, path)
    assert result.returncode == 2 and "neither UTF-8" in result.stderr
    ledger = Ledger(env=store_env)
    assert event_count(ledger) == 0
    ledger.close()


def test_a_header_without_a_required_column_is_refused_whole(store_env, tmp_path):
    path = write(tmp_path / "history.csv", ROWS[:1], header=HEADER.replace("参保年度", "年度"))
    result = load(store_env, path)
    assert result.returncode == 2 and "year" in result.stderr and "参保年度" in result.stderr


def _big(path, persons: int):
    """Two rows a person: enrolled and paid in part, then the rest."""
    lines = [HEADER]
    for n in range(persons):
        idn = make_id(date(1960 + n % 40, 1 + n % 12, 1 + n % 28), area="500114", seq=n % 1000)
        village = f"500114{1 + n % 6:03d}{1 + n % 12:03d}"
        lines.append(f"{idn},批量,{village},2021,1,,2020-10-01,,,100.00,2020-10-02 10:00:00,微信,K-{n}-1,QJ-001,")
        lines.append(f"{idn},批量,{village},2021,1,,2020-10-01,,,180.00,2020-12-02 10:00:00,银行,K-{n}-2,QJ-002,")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_load_killed_part_way_and_run_again_ends_as_one_clean_load(store_env, tmp_path):
    big = _big(tmp_path / "big.csv", 4000)  # 8,000 rows, four chunks
    ledger = Ledger(env=store_env)
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "import", "history", str(big), "--quiet"], cwd=ROOT,
                            env={**ledger_environ(store_env), "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while event_count(ledger) == 0 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    partial = event_count(ledger)
    again = json.loads(load(store_env, big).stdout)
    counts = again["counts"]
    assert partial > 0 and counts["recorded"] > 0, "the kill should land part-way"
    assert counts["recorded"] + counts["already_recorded"] == 8000 and sum(counts.values()) == 8000
    held = collections(store_env)
    ledger.close()
    assert held["payments"] == 8000 and held["amount"] == "1120000.00"

    clean_env = ({**store_env, "SQLITE_DBNAME": str(tmp_path / "clean.db")} if "SQLITE_DBNAME" in store_env
                 else None)
    if clean_env:  # one clean load into a fresh store: the same events, none more, none fewer
        assert load(clean_env, big).returncode == 0
        assert collections(clean_env) == held
        first, second = Ledger(env=store_env), Ledger(env=clean_env)
        assert event_count(first) == event_count(second)
        first.close()
        second.close()
