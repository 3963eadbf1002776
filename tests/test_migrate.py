"""Upgrades as an IT office runs them, on SQLite and PostgreSQL: a database made by the previous
release (its code taken from this repository's history) is refused by this one until `ledger
migrate`, then answers as before with its log verified; a migrate interrupted half-way completes
when run again; a database newer than the code is refused by `ledger serve`, naming both versions,
and left as it was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ledger_environ
from domain.schema import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS_RELEASE = "ddb90cc"  # the last commit before the schema carried a version


def previous_release(tmp_path: Path) -> Path:
    tree = tmp_path / "previous"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", PREVIOUS_RELEASE], capture_output=True)
    if archive.returncode != 0:
        pytest.fail(f"the previous release's code is not in this clone's history: {archive.stderr.decode()}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def run(code: Path, env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "api.cli", *args], cwd=cwd, env={**env, "PYTHONPATH": str(code)},
                          capture_output=True, text=True, timeout=600)


def enrollment(code: Path, env: dict[str, str], cwd: Path) -> dict:
    done = run(code, env, cwd, "report", "enrollment", "--region", "500114", "--year", "2021", "--as-of", "2021-06-30",
               "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def tables(store_env: dict[str, str]) -> set[str]:
    if store_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        import sqlite3

        with sqlite3.connect(store_env["SQLITE_DBNAME"]) as db:
            return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    import psycopg

    from conftest import PG

    with psycopg.connect(**PG) as db:
        return {r[0] for r in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                                         (store_env["POSTGRES_SCHEMA"],))}


def test_a_previous_release_database_is_migrated_and_answers_as_before(tmp_path, store_env):
    old = previous_release(tmp_path)
    env = ledger_environ(store_env)
    data = tmp_path / "data"
    data.mkdir()
    if store_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        env["LEDGER_DB"] = store_env["SQLITE_DBNAME"]
    made = run(old, env, data, "demo", "--scale", "2000", "--quiet")
    assert made.returncode == 0, made.stderr
    assert run(old, env, data, "log", "checkpoint").returncode == 0
    before = enrollment(old, env, data)
    shape = tables(store_env)
    assert "ledger_schema" not in shape

    refused = run(ROOT, env, data, "report", "enrollment", "--region", "500114", "--year", "2021")
    assert refused.returncode == 2 and f"schema version 1, this release needs {SCHEMA_VERSION}" in refused.stderr
    assert "ledger migrate" in refused.stderr and tables(store_env) == shape  # refused, and nothing made

    # Interrupted after its step and before recording it: the step is run again, harmlessly.
    from api.services.migrate import STEPS
    from domain.store import open_store

    store = open_store(store_env)
    STEPS[2](store)
    store.close()
    done = run(ROOT, env, data, "migrate")
    assert done.returncode == 0 and f"was at schema version 1 and is at {SCHEMA_VERSION}" in done.stdout, done.stderr
    again = run(ROOT, env, data, "migrate")
    assert again.returncode == 0 and "nothing to do" in again.stdout

    after = enrollment(ROOT, env, data)
    assert [(r["region"], r["enrolled"], r["paid"]) for r in after["rows"]] == [
        (r["region"], r["enrolled"], r["paid"]) for r in before["rows"]]
    assert after["total"]["paid"] == before["total"]["paid"] > 0
    verified = run(ROOT, env, data, "log", "verify", "--quiet")
    assert verified.returncode == 0 and "verified" in verified.stdout, verified.stdout + verified.stderr


def test_serve_refuses_a_database_newer_than_itself_and_leaves_it_as_it_was(tmp_path, store_env):
    from domain.ledger import Ledger
    from domain.schema import _Version

    ledger = Ledger(env=store_env)
    _Version(ledger.store).stamp(SCHEMA_VERSION + 7)
    events = ledger.store.recorder.max_notification_id()
    ledger.close()
    env = ledger_environ(store_env)
    if store_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
        env["LEDGER_DB"] = store_env["SQLITE_DBNAME"]
    shape = tables(store_env)
    served = run(ROOT, env, tmp_path, "serve", "--port", "0")
    assert served.returncode == 2, served.stdout + served.stderr
    assert f"schema version {SCHEMA_VERSION + 7}, newer than this release's {SCHEMA_VERSION}" in served.stderr
    assert run(ROOT, env, tmp_path, "migrate").returncode == 2  # no migration backwards either
    assert tables(store_env) == shape
    from domain.store import open_store

    store = open_store(store_env)
    assert store.recorder.max_notification_id() == events and _Version(store).read() == SCHEMA_VERSION + 7
    store.close()


def _open_own_tables(env: dict[str, str]) -> None:
    from api.console.sessions import Sessions
    from api.services.read_audit import ReadAudit
    from domain.ledger import Ledger
    from projections.tlog import TreeTables

    ledger = Ledger(env=env)  # a new database is stamped with its schema version on opening
    Sessions(ledger.store), ReadAudit(ledger.store), TreeTables(ledger.store)
    ledger.close()


def test_processes_starting_at_once_make_the_ledgers_own_tables_once(store_env):
    """Several `serve` processes starting together on a fresh database: each makes the tables it
    needs if missing, one at a time (PostgreSQL refuses concurrent CREATE … IF NOT EXISTS)."""
    import multiprocessing

    processes = [multiprocessing.get_context("fork").Process(target=_open_own_tables, args=(store_env,))
                 for _ in range(6)]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
    assert [p.exitcode for p in processes] == [0] * 6
