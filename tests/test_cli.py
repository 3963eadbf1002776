"""The `ledger` command line as an operator uses it: policies and the demo, in a fresh directory."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ledger(*args, cwd, check=True):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=check)


def test_policy_list_show_check(tmp_path):
    listed = ledger("policy", "list", cwd=tmp_path).stdout
    assert all(pid in listed for pid in ("500114-2021", "430623110-2021", "500237103-2022", "500110-2021", "532301-2021"))
    shown = ledger("policy", "show", "532301-2021", cwd=tmp_path).stdout
    assert "不得补缴" in shown and 'start = "refused"' in shown
    checked = ledger("policy", "check", cwd=tmp_path)
    assert checked.returncode == 0 and "7 policy file(s), 0 with problems" in checked.stdout


def test_policy_check_fails_on_a_broken_file(tmp_path):
    broken = tmp_path / "bad.toml"
    broken.write_text((ROOT / "domain/policies/500110-2021.toml").read_text(encoding="utf-8").replace('"dibao"', '"nobody"', 1),
                      encoding="utf-8")
    result = ledger("policy", "check", str(broken), cwd=tmp_path, check=False)
    assert result.returncode == 1 and "unknown category 'nobody'" in result.stdout


def test_demo_in_a_fresh_directory_then_again(tmp_path):
    first = ledger("demo", "--scale", "1000", "--quiet", cwd=tmp_path).stdout
    lines = first.splitlines()
    assert "558 persons" in lines[0]
    townships = [line for line in lines if line.startswith("500114")]
    assert len(townships) == 30
    total = next(line for line in lines if line.startswith("total")).split()
    assert total[1:3] == ["557,458", "466,800"]
    assert (tmp_path / "ledger.db").exists()
    second = ledger("demo", "--scale", "1000", "--quiet", cwd=tmp_path).stdout
    assert second.splitlines()[-1] == lines[-1]  # a second run replays, nothing is posted twice


def test_errors_speak_to_the_operator(tmp_path):
    result = ledger("coverage", "110105194912310021", "--year", "2021", cwd=tmp_path, check=False)
    assert result.returncode == 2 and "check character" in result.stderr and "Traceback" not in result.stderr


def test_multi_year_demo_shows_waiting_periods_and_replays(tmp_path):
    first = ledger("demo", "--multi-year", "--scale", "200", "--quiet", cwd=tmp_path).stdout
    rows = {line.split()[0]: [int(x.replace(",", "")) for x in line.split()[1:]]
            for line in first.splitlines() if line[:4] in ("2024", "2025", "2026")}
    assert sorted(rows) == ["2024", "2025", "2026"]
    for year in ("2025", "2026"):
        enrolled, paid, covered_jan, covered_jul, _ = rows[year]
        assert paid > covered_jan  # some paid persons wait: late payers and those with gap years
        assert covered_jan < covered_jul <= paid
    listed = ledger("policy", "list", cwd=tmp_path).stdout
    assert "3702-2026" in listed and "demo 2026" in listed
    again = ledger("demo", "--multi-year", "--scale", "200", "--quiet", cwd=tmp_path).stdout
    assert again.splitlines()[-4:] == first.splitlines()[-4:]


def test_person_corrections_and_departures_from_the_command_line(tmp_path):
    """The bureau's corrections at the command line: each an event with its reason, a refusal names
    the option and writes nothing."""
    from datetime import date, datetime, timedelta, timezone

    from conftest import BUREAU, CLERK, make_id
    from domain.ledger import Ledger

    db = tmp_path / "ledger.db"
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    wrong, right = make_id(date(1970, 1, 1)), make_id(date(1971, 1, 1))
    for idn in (wrong, right):
        ledger.register(CLERK, id_number=idn, name="张三", region="500110001001")
        ledger.enroll(CLERK, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 5))
    ledger.change_identity(BUREAU, id_number=right, category="dibao", action="certify", effective_on=date(2020, 1, 1))
    ledger.register(CLERK, id_number="H7654321", document_type="hk_macao_pass", name="陈港", sex="male",
                    birth_date=date(1980, 5, 5), region="500110001001")
    paid = ledger.pay(CLERK, id_number=wrong, year=2021, amount="100.00", channel="wechat",
                      paid_at=datetime(2020, 11, 6, 10, tzinfo=timezone(timedelta(hours=8)))).payment_id
    events = ledger.store.recorder.max_notification_id()
    ledger.close()

    def cli(*args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
        return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=tmp_path, capture_output=True, text=True,
                              env={**env, "PYTHONPATH": str(ROOT), "LEDGER_DB": str(db)})

    refused = cli("person", "correct", wrong, "--reason", "落户补录", "--hukou-registered-on", "2021-13-01")
    assert refused.returncode == 2 and "--hukou-registered-on" in refused.stderr
    refused = cli("person", "depart", wrong, "death", "--on", "2021-03-10", "--source", " ")
    assert refused.returncode == 2 and "source" in refused.stderr
    refused = cli("person", "correct", wrong, "--reason", "出生日期", "--birth-date", "1970-01-02")
    assert refused.returncode == 2 and "birth_date" in refused.stderr and "identity number" in refused.stderr
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    assert ledger.store.recorder.max_notification_id() == events  # the refusals wrote nothing
    ledger.close()
    done = cli("person", "correct", wrong, "--reason", "姓名录错", "--name", "张山")
    assert done.returncode == 0 and "张山" in done.stdout, done.stderr
    done = cli("person", "correct", "H7654321", "--document-type", "hk_macao_pass", "--reason", "出生日期录错",
               "--birth-date", "1980-05-15")
    assert done.returncode == 0 and "born 1980-05-15" in done.stdout, done.stderr
    done = cli("person", "retract", right, "低保对象", "--reason", "录入错误")
    assert done.returncode == 0 and "categories held now: none" in done.stdout, done.stderr
    done = cli("person", "move-payment", wrong, paid, "--reason", "付错人", "--to-id-number", right)
    assert done.returncode == 0 and "moved to" in done.stdout, done.stderr
    done = cli("person", "depart", wrong, "death", "--on", "2021-03-10", "--source", "户籍注销")
    assert done.returncode == 0 and "enrollments ended: 2021 (refund 0.00)" in done.stdout, done.stderr
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(db)})
    try:
        assert ledger.person(wrong).name == "张山" and ledger.person(wrong).left is not None
        assert ledger.person("H7654321", document_type="hk_macao_pass").birth_date == date(1980, 5, 15)
        assert ledger.coverage(right, 2021).paid_fen == 10000
        assert ledger.store.recorder.max_notification_id() > events
    finally:
        ledger.close()
