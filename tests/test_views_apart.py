"""The report projection in another PostgreSQL database than the events (LEDGER_VIEWS_URL), so a
bureau reads reports from a replica's server or a database of their own while collection points
write to the primary: `ledger projections run` keeps it caught up from there."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

from datetime import date, datetime

import psycopg
import pytest

from domain.dates import CHINA
from domain.ledger import Ledger
from tests.conftest import CLERK, PG, _drop_schema, _postgres_env, ledger_environ, make_id
from tests.test_cli import ROOT

VIEWS_DB = "postgres"  # the other database this machine has beside `test`


def run(env, *args, check=True):
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, check=check)


def tables_in(dbname: str, schema: str) -> set[str]:
    with psycopg.connect(**{**PG, "dbname": dbname}) as conn:
        return {name for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,))}


@pytest.fixture
def apart():
    """A ledger in a schema of database `test`, its report rows in a schema of database `postgres`."""
    store_env, schema = _postgres_env()
    views_schema = f"v_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(autocommit=True, **{**PG, "dbname": VIEWS_DB}) as conn:
        conn.execute(f"CREATE SCHEMA {views_schema}")
    env = ledger_environ(store_env)
    env["LEDGER_VIEWS_URL"] = f"postgresql://{PG['user']}@{PG['host']}:{PG['port']}/{VIEWS_DB}"
    env["LEDGER_VIEWS_SCHEMA"] = views_schema
    yield env, schema, views_schema, store_env
    _drop_schema(schema)
    with psycopg.connect(autocommit=True, **{**PG, "dbname": VIEWS_DB}) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {views_schema} CASCADE")


def report(env, region="500114"):
    return json.loads(run(env, "report", "enrollment", "--region", region, "--year", "2021", "--as-of", "2021-12-31",
                          "--format", "json").stdout)


def test_reports_read_from_another_database_kept_by_projections_run(apart):
    env, schema, views_schema, store_env = apart
    follower = subprocess.Popen([sys.executable, "-m", "api.cli", "projections", "run", "--interval", "0.2"],
                                env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
    try:
        run(env, "demo", "--county", "500101", "--scale", "2000", "--quiet")
        # A payment written without asking for a report: only the follower can bring it in.
        ledger = Ledger(env=store_env)
        number = make_id(date(1980, 5, 1), area="500101")
        ledger.register(CLERK, id_number=number, name="王芳", region="500101001001")
        ledger.enroll(CLERK, id_number=number, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
        ledger.pay(CLERK, id_number=number, year=2021, amount="280.00",
                   paid_at=datetime(2020, 11, 2, 10, tzinfo=CHINA), channel="wechat")
        ledger.close()
        head = None
        for _ in range(150):  # the follower catches up from the other database
            status = json.loads(run(env, "projections", "status", "--json").stdout)
            head = status["head"]
            if status["lag"] == 0:
                break
            time.sleep(0.2)
        assert status["lag"] == 0 and head > 0
    finally:
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=20)
    # The rows and totals live in the other database; none in the ledger's schema.
    assert {"person_rows", "payment_rows", "person_totals"} <= tables_in(VIEWS_DB, views_schema)
    assert not {"person_rows", "person_totals"} & tables_in(PG["dbname"], schema)
    apart_report = report(env, "500101")
    assert apart_report["total"]["paid"] > 0

    # The same report from rows kept in the ledger's own schema.
    beside = {k: v for k, v in env.items() if not k.startswith("LEDGER_VIEWS_")}
    assert report(beside, "500101") == apart_report


def test_views_url_with_a_sqlite_ledger_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGER_")}
    env.update(LEDGER_DB=str(tmp_path / "ledger.db"), LEDGER_VIEWS_URL="postgresql://postgres@127.0.0.1/postgres")
    result = run(env, "projections", "status", check=False)
    assert result.returncode == 2 and "LEDGER_VIEWS_URL" in result.stderr and "Traceback" not in result.stderr


def test_a_views_url_that_is_not_postgresql_is_refused(apart):
    env, _, _, _ = apart
    result = run({**env, "LEDGER_VIEWS_URL": "mysql://x@127.0.0.1/views"}, "projections", "status", check=False)
    assert result.returncode == 2 and "LEDGER_VIEWS_URL" in result.stderr and "postgresql://" in result.stderr


def test_a_follower_that_did_not_apply_a_policy_load_puts_it_in_force_first(store_env, clock):
    """A second follower (another process) finds a batch with a policy load already applied by the
    first, and goes on from after it: the persons it then folds are under that policy all the same."""
    from api.services.demo import load_demo_policy
    from domain.policy import install_loaded
    from projections.follower import Follower
    from projections.service import Reports

    ledger = Ledger(env=store_env, clock=clock)
    reports = Reports(ledger.store, ledger.env)
    try:
        load_demo_policy(ledger)  # the policy of Chongqing's other counties (a demo version)
        reports.follower.catch_up()  # the first follower applies the load
        number = make_id(date(1980, 5, 1), area="500101")
        ledger.register(CLERK, id_number=number, name="王芳", region="500101001001")
        ledger.enroll(CLERK, id_number=number, year=2021, tier=1, enrolled_on=date(2020, 11, 1))
        ledger.pay(CLERK, id_number=number, year=2021, amount="280.00",
                   paid_at=datetime(2020, 11, 2, 10, tzinfo=CHINA), channel="wechat")
        install_loaded([])  # as a process that was started before the load and never read it
        Follower(ledger.store, reports.views).catch_up()
        answer = reports.report("enrollment", "500101", 2021, date(2021, 6, 1))
        assert answer["total"]["paid"] == 1 and answer["total"]["covered"] == 1
    finally:
        reports.close()
        ledger.close()
