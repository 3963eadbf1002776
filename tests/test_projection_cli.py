"""The report projection as operators run it: `ledger rebuild` (killed and resumed),
`ledger projections status` and `run`, the follower inside `ledger serve`, `ledger targets load`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import date, datetime, timezone
from pathlib import Path

from conftest import BUREAU, CLERK, ledger_environ, make_id, stored_rows
from domain.ledger import Ledger
from projections.service import Reports

ROOT = Path(__file__).resolve().parents[1]


def ledger(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          check=check)


def status(env: dict[str, str]) -> dict:
    out = ledger("projections", "status", "--json", env=env, check=False)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def rows(store_env: dict[str, str]) -> list[tuple]:
    led = Ledger(env=store_env)
    try:
        reports = Reports(led.store, led.env)
        found = stored_rows(reports.views)
        reports.close()
        return found
    finally:
        led.close()


def test_rebuild_killed_part_way_resumes_to_the_same_rows(store_env):
    env = ledger_environ(store_env)
    ledger("demo", "--scale", "200", "--quiet", env=env)  # 2,800 persons; the demo's report catches up
    clean = rows(store_env)
    first = status(env)
    assert first["lag"] == 0 and first["position"] == first["head"] > 10_000
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "rebuild", "--batch", "200", "--workers", "1", "--quiet"],
                            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watcher = Ledger(env=store_env)
    views = Reports(watcher.store, watcher.env).views
    deadline = time.monotonic() + 60
    while not 2_000 < views.position() < first["head"] // 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    views.close()
    watcher.close()
    part_way = status(env)
    assert 0 < part_way["position"] < part_way["head"] and part_way["lag"] > 0
    # Any reader catches up from where the killed rebuild stopped.
    report = json.loads(ledger("report", "enrollment", "--region", "500114", "--year", "2021", "--as-of", "2021-12-31",
                               "--format", "json", env=env).stdout)
    assert report["total"]["enrolled"] > 2000
    assert status(env)["lag"] == 0
    assert rows(store_env) == clean
    out = ledger("rebuild", "--quiet", env=env).stdout
    assert "events/s" in out and rows(store_env) == clean


def test_projections_run_follows_new_events_in_its_own_process(store_env, clock):
    env = ledger_environ(store_env)
    runner = subprocess.Popen([sys.executable, "-m", "api.cli", "projections", "run", "--interval", "0.1"], env=env,
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        led = Ledger(env=store_env, clock=clock)
        number = make_id(date(1990, 5, 1))
        led.register(CLERK, id_number=number, name="王芳", region="500114001001")
        led.change_identity(BUREAU, id_number=number, category="dibao", action="certify", effective_on=date(2020, 1, 1))
        led.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            now = status(env)
            if now["head"] > 0 and now["lag"] == 0:
                break
            time.sleep(0.1)
        assert now["lag"] == 0 and now["rows"]["person_rows"] == 1  # the assisted person's row
    finally:
        runner.send_signal(signal.SIGTERM)
        out, _ = runner.communicate(timeout=30)
    assert runner.returncode == 0, out
    assert "following the ledger" in out


def test_targets_load_keeps_the_warning_and_the_versions(store_env, tmp_path):
    env = ledger_environ(store_env)
    table = tmp_path / "chaqi-2022.csv"
    table.write_text("区划代码,名称,常住人口,2022任务数\n430623110201,同福村,4400,4200\n430623110202,注北村,2500,2450\n"
                     ",合计,6900,6600\n", encoding="gb18030")
    out = ledger("targets", "load", str(table), "--year", "2022", env=env).stdout
    assert "loaded 2 regions below 430623110 for 2022 (version 1)" in out
    assert "sums to 6,650 while the file prints 6,600" in out
    report = json.loads(ledger("report", "enrollment", "--region", "430623110", "--year", "2022", "--format", "json",
                               env=env).stdout)
    assert [(r["region"], r["population"], r["target"]) for r in report["rows"]] == [
        ("430623110201", 4400, 4200), ("430623110202", 2500, 2450)]
    assert report["total"]["target"] == 6650
    assert any("6,650 while the file prints 6,600" in w for w in report["warnings"])
    between = datetime.now(timezone.utc).isoformat()
    table.write_text("区划代码,名称,常住人口,2022任务数\n430623110201,同福村,4400,4300\n430623110202,注北村,2500,2450\n",
                     encoding="utf-8")
    assert "(version 2)" in ledger("targets", "load", str(table), "--year", "2022", env=env).stdout
    now = json.loads(ledger("report", "enrollment", "--region", "430623110", "--year", "2022", "--format", "json",
                            env=env).stdout)
    then = json.loads(ledger("report", "enrollment", "--region", "430623110", "--year", "2022", "--format", "json",
                             "--known-at", between, env=env).stdout)
    assert now["total"]["target"] == 6750 and not [w for w in now["warnings"] if "prints" in w]  # no sum warning now
    assert now["warnings"] == ["2 of 2 regions below their target: 同福村, 注北村"]  # nobody paid yet
    assert then["total"]["target"] == 6650  # as known before the second load


def test_targets_load_refuses_a_bad_file_and_writes_nothing(store_env, tmp_path):
    env = ledger_environ(store_env)
    bad = tmp_path / "bad.csv"
    bad.write_text("region_code,name,population,target\n430623110201,同福村,4400,many\n", encoding="utf-8")
    out = ledger("targets", "load", str(bad), "--year", "2022", env=env, check=False)
    assert out.returncode == 2
    assert "line 2: target must be a whole number of persons, got 'many'" in out.stderr
    two = tmp_path / "two.csv"
    two.write_text("code,name,population,target_2021,target_2022\n430623110201,同福村,4400,4100,4200\n", encoding="utf-8")
    out = ledger("targets", "load", str(two), "--year", "2023", env=env, check=False)
    assert out.returncode == 2 and "several columns (target_2021, target_2022) for the target" in out.stderr
    missing = ledger("targets", "load", str(tmp_path / "nowhere.csv"), "--year", "2022", env=env, check=False)
    assert missing.returncode == 2 and "no file at" in missing.stderr
    assert status(env)["head"] == 0  # nothing was written


def test_a_parallel_rebuild_gives_the_rows_of_a_sequential_one(store_env, monkeypatch):
    import projections.follower

    env = ledger_environ(store_env)
    ledger("demo", "--scale", "400", "--quiet", env=env)
    sequential = rows(store_env)
    monkeypatch.setattr(projections.follower, "PARALLEL_FROM", 0)
    led = Ledger(env=store_env)
    try:
        reports = Reports(led.store, led.env)
        reports.follower.batch = 1000  # many ranges, persons straddling them
        applied = reports.follower.rebuild(workers=2)
        assert applied == reports.follower.head() and reports.follower.status().lag == 0
        reports.close()
    finally:
        led.close()
    assert rows(store_env) == sequential


def test_a_parallel_rebuild_stopped_part_way_leaves_no_replaced_row_behind(store_env, monkeypatch):
    """A rebuild loads without the person index and drops replaced rows at the end; stopped
    before the end, whoever opens the rows next drops them, before any report reads them."""
    import projections.follower
    from projections.viewstore import ViewStore

    env = ledger_environ(store_env)
    ledger("demo", "--scale", "400", "--quiet", env=env)
    sequential = rows(store_env)
    monkeypatch.setattr(projections.follower, "PARALLEL_FROM", 0)
    written = []
    real = ViewStore.apply_values

    def crash_after_five_ranges(self, *args, **kwargs):
        if len(written) == 5:
            raise KeyboardInterrupt("the operator pressed Ctrl-C")
        real(self, *args, **kwargs)
        written.append(args[-1])

    monkeypatch.setattr(ViewStore, "apply_values", crash_after_five_ranges)
    led = Ledger(env=store_env)
    try:
        reports = Reports(led.store, led.env)
        reports.follower.batch = 1000
        try:
            reports.follower.rebuild(workers=2)
        except KeyboardInterrupt:
            pass
        assert reports.views.position() == written[-1] == 5000
        pending = reports.views.query(f"SELECT count(*) FROM {reports.views.schema}replaced_persons", [])[0][0]
        assert pending > 0  # persons straddling ranges, their earlier rows not yet dropped
        reports.close()
    finally:
        led.close()
    monkeypatch.setattr(ViewStore, "apply_values", real)
    report = json.loads(ledger("report", "enrollment", "--region", "500114", "--year", "2021", "--format", "json",
                               env=env).stdout)
    assert report["total"]["enrolled"] > 0 and status(env)["lag"] == 0
    assert rows(store_env) == sequential


def test_vacuum_and_reindex_after_a_large_catch_up_change_no_answer(store_env):
    env = ledger_environ(store_env)
    ledger("demo", "--scale", "400", "--quiet", env=env)
    before = rows(store_env)
    led = Ledger(env=store_env)
    try:
        reports = Reports(led.store, led.env)
        asked = reports.report("enrollment", "500114", 2021, date(2021, 6, 30))
        reports.views.vacuum(reindex=True)  # what a catch-up of 100,000 events or more ends with
        assert reports.report("enrollment", "500114", 2021, date(2021, 6, 30)) == asked
        reports.close()
    finally:
        led.close()
    assert rows(store_env) == before


def test_rows_stored_before_they_carried_loaded_are_kept_and_the_column_added(store_env, clock):
    led = Ledger(env=store_env, clock=clock)
    try:
        number = make_id(date(1990, 5, 1))
        led.register(CLERK, id_number=number, name="王芳", region="500114001001")
        led.change_identity(BUREAU, id_number=number, category="dibao", action="certify", effective_on=date(2020, 1, 1))
        reports = Reports(led.store, led.env)
        reports.follower.catch_up()
        before = stored_rows(reports.views)
        for table in (reports.views.person_rows, reports.views.payment_rows):
            with reports.views.recorder.datastore.transaction(commit=True) as c:
                c.execute(f"ALTER TABLE {table} DROP COLUMN loaded")  # as an earlier version made them
        reports.close()
        reopened = Reports(led.store, led.env)
        assert stored_rows(reopened.views) == before and len(before) == 1
        led.change_identity(BUREAU, id_number=number, category="dibao", action="end", effective_on=date(2021, 3, 1))
        assert reopened.follower.catch_up() == 1
        assert len(stored_rows(reopened.views)) == 2  # the old version closed, the new one added
        reopened.close()
    finally:
        led.close()


def test_a_one_process_rebuild_of_a_long_log_ends_with_its_indexes(store_env, monkeypatch):
    """A long catch-up ends with a vacuum and, on PostgreSQL, a REINDEX; inside a rebuild, which
    drops the indexes and makes them at its end, it must not ask for them before."""
    import projections.follower

    env = ledger_environ(store_env)
    ledger("demo", "--scale", "400", "--quiet", env=env)
    before = rows(store_env)
    monkeypatch.setattr(projections.follower, "VACUUM_AFTER", 100)  # the demo's log counts as long
    led = Ledger(env=store_env)
    try:
        reports = Reports(led.store, led.env)
        assert reports.follower.rebuild(workers=1) > 100
        assert reports.report("enrollment", "500114", 2021, date(2021, 6, 30))["total"]["enrolled"] > 0
        reports.close()
    finally:
        led.close()
    assert rows(store_env) == before
