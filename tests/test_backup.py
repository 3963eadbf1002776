"""`ledger backup` and `ledger restore` as an operator runs them on the embedded SQLite ledger:
a backup taken while payments are written, the writer killed in the middle, restored and verified;
a truncated, an altered and an unsigned backup refused, naming why, the current ledger untouched."""

from __future__ import annotations

import hashlib
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from served import ledger, ledger_env

ROOT = Path(__file__).resolve().parents[1]

# A collection point paying without pause: one durable transaction per payment, until killed.
WRITER = r"""
import sys
from datetime import date, datetime, timedelta, timezone
from domain.ledger import Actor, Ledger
from tests.conftest import make_id
ledger = Ledger()
clerk = Actor("writer", "collector", "P-1")
people = [make_id(date(1950, 1, 1) + timedelta(days=i)) for i in range(200)]
for idn in people:
    ledger.register(clerk, id_number=idn, name="张三", region="500110001001")
    ledger.enroll(clerk, id_number=idn, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
print("ready", flush=True)
n = 0
while True:
    idn = people[n % len(people)]
    ledger.pay(clerk, id_number=idn, year=2021, amount="0.01", channel="wechat", idempotency_key=f"k{n}",
               paid_at=datetime(2020, 11, 2, 10, tzinfo=timezone(timedelta(hours=8))))
    n += 1
"""


def events_of(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as c:
        return c.execute("SELECT originator_id, originator_version, topic, state FROM stored_events"
                         " ORDER BY rowid").fetchall()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_backup_under_writes_restores_to_a_verified_prefix_of_the_ledger(tmp_path):
    env = ledger_env(tmp_path, PYTHONPATH=str(ROOT))
    writer = subprocess.Popen([sys.executable, "-c", WRITER], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout.readline().strip() == "ready"
        assert ledger(tmp_path, env, "log", "checkpoint").returncode == 0  # a signed checkpoint mid-way
        time.sleep(0.5)
        taken = ledger(tmp_path, env, "backup", str(tmp_path / "b.db"))
        assert taken.returncode == 0, taken.stderr
        time.sleep(0.3)
    finally:
        writer.send_signal(signal.SIGKILL)  # the writes stop in the middle of whatever they were doing
        writer.wait(10)
    assert (tmp_path / "b.db.sha256").is_file()
    assert ledger(tmp_path, env, "backup", str(tmp_path / "b.db")).returncode != 0  # never overwritten
    source = events_of(tmp_path / "ledger.db")
    backed = events_of(tmp_path / "b.db")
    assert 400 < len(backed) < len(source)  # writes went on after the snapshot
    assert source[:len(backed)] == backed  # every event of the copy, as the ledger has it, in order

    fresh = tmp_path / "elsewhere"
    fresh.mkdir()
    there = ledger_env(fresh, LEDGER_LOG_KEY=str(tmp_path / "ledger.log-key"))
    done = ledger(fresh, there, "restore", str(tmp_path / "b.db"))
    assert done.returncode == 0, done.stderr
    assert "the log verified" in done.stdout and "1 signed checkpoints" in done.stdout, done.stdout
    assert events_of(fresh / "ledger.db") == backed
    checked = ledger(fresh, there, "log", "verify", "--quiet")
    assert checked.returncode == 0 and "verified" in checked.stdout, checked.stdout + checked.stderr
    # Restoring over a ledger needs --replace, and keeps the one replaced.
    assert ledger(fresh, there, "restore", str(tmp_path / "b.db")).returncode != 0
    again = ledger(fresh, there, "restore", str(tmp_path / "b.db"), "--replace")
    assert again.returncode == 0 and "kept at" in again.stdout, again.stderr
    assert len(list(fresh.glob("ledger.db.before-restore-*Z"))) == 1


def _small_ledger(tmp_path: Path) -> dict[str, str]:
    env = ledger_env(tmp_path, PYTHONPATH=str(ROOT))
    made = subprocess.run([sys.executable, "-c", WRITER.replace("while True", "while n < 30")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr
    assert ledger(tmp_path, env, "log", "checkpoint").returncode == 0
    assert ledger(tmp_path, env, "backup", str(tmp_path / "b.db")).returncode == 0
    return env


def _refused(tmp_path: Path, env: dict[str, str], why: str) -> None:
    before = digest(tmp_path / "ledger.db")
    done = ledger(tmp_path, env, "restore", str(tmp_path / "b.db"), "--replace")
    assert done.returncode != 0 and why in done.stderr, (done.stdout, done.stderr)
    assert digest(tmp_path / "ledger.db") == before  # the current ledger untouched
    assert not list(tmp_path.glob("*.restoring*")) and not list(tmp_path.glob("*.before-restore*"))


def test_a_truncated_backup_is_refused_and_the_ledger_untouched(tmp_path):
    env = _small_ledger(tmp_path)
    data = (tmp_path / "b.db").read_bytes()
    (tmp_path / "b.db").write_bytes(data[: len(data) // 2])
    _refused(tmp_path, env, "altered or cut short")
    # Its checksum recomputed to match, the cut file is still no sound database.
    (tmp_path / "b.db.sha256").write_text(f"{digest(tmp_path / 'b.db')}  b.db\n")
    _refused(tmp_path, env, "FILE")


def test_an_altered_event_is_found_by_the_log_even_with_a_matching_checksum(tmp_path):
    env = _small_ledger(tmp_path)
    with sqlite3.connect(tmp_path / "b.db") as c:  # one payment's amount rewritten, as a forger would
        rowid, state = c.execute("SELECT rowid, state FROM stored_events WHERE topic LIKE '%PaymentRecorded'"
                                 " LIMIT 1").fetchone()
        c.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                  (bytes(state).replace(b'"amount_fen":1', b'"amount_fen":9'), rowid))
    _refused(tmp_path, env, "altered or cut short")
    (tmp_path / "b.db.sha256").write_text(f"{digest(tmp_path / 'b.db')}  b.db\n")
    _refused(tmp_path, env, "does not verify")


def test_a_backup_without_its_checksum_or_key_is_refused(tmp_path):
    env = _small_ledger(tmp_path)
    (tmp_path / "b.db.sha256").rename(tmp_path / "kept.sha256")
    _refused(tmp_path, env, "missing beside the backup")
    (tmp_path / "kept.sha256").rename(tmp_path / "b.db.sha256")
    elsewhere = tmp_path / "new"
    elsewhere.mkdir()
    done = ledger(elsewhere, ledger_env(elsewhere), "restore", str(tmp_path / "b.db"))
    assert done.returncode != 0 and "signing key" in done.stderr, done.stderr
    assert not (elsewhere / "ledger.db").exists() and not (elsewhere / "ledger.log-key").exists()


def test_postgresql_is_pointed_to_pg_dump(tmp_path):
    env = ledger_env(tmp_path, LEDGER_DATABASE_URL="postgresql://postgres@127.0.0.1:5432/test")
    done = ledger(tmp_path, env, "backup", str(tmp_path / "b.db"))
    assert done.returncode != 0 and "pg_dump --format=custom" in done.stderr
    assert not (tmp_path / "b.db").exists()


def test_a_backup_of_the_previous_schema_is_restored_then_migrated(tmp_path):
    """A backup taken before the database carried its schema version: restored as it is, refused by
    the ledger until `ledger migrate`, then answering."""
    env = _small_ledger(tmp_path)
    with sqlite3.connect(tmp_path / "b.db") as c:
        c.execute("DROP TABLE ledger_schema")
    (tmp_path / "b.db.sha256").write_text(f"{digest(tmp_path / 'b.db')}  b.db\n")
    done = ledger(tmp_path, env, "restore", str(tmp_path / "b.db"), "--replace")
    assert done.returncode == 0 and "the log verified" in done.stdout, done.stderr
    refused = ledger(tmp_path, env, "log", "verify", "--quiet")
    assert refused.returncode == 2 and "ledger migrate" in refused.stderr
    assert ledger(tmp_path, env, "migrate").returncode == 0
    assert ledger(tmp_path, env, "log", "verify", "--quiet").returncode == 0
