"""Fixtures: a ledger on each storage backend, a controllable clock, valid identity numbers.

PostgreSQL tests run against 127.0.0.1:5432 (user postgres, database test), each in a schema of
its own. Where no server answers they are skipped, except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import date, datetime, timedelta, timezone
from itertools import count
from pathlib import Path

import pytest

from domain.idnumber import check_character
from domain.ledger import Actor, Ledger

PG = dict(host="127.0.0.1", port=5432, user="postgres", dbname="test")
_seq = count(1)


def make_id(born: date, area: str = "500110", seq: int | None = None) -> str:
    """A valid GB 11643 number for a birth date; each call gives a new one."""
    n = next(_seq) if seq is None else seq
    base = f"{area}{born:%Y%m%d}{n % 1000:03d}"
    return base + check_character(base)


class Clock:
    """System time that moves only when told: recorded_at values a test can name."""

    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=timezone.utc)):
        self.moment = start

    def __call__(self) -> datetime:
        self.moment += timedelta(microseconds=1)
        return self.moment

    def advance(self, **delta: float) -> datetime:
        self.moment += timedelta(**delta)
        return self.moment


def postgres_available() -> str | None:
    try:
        import psycopg

        with psycopg.connect(connect_timeout=2, **PG):
            return None
    except Exception as e:  # noqa: BLE001 - any failure means "not reachable here"
        return f"PostgreSQL not reachable at {PG['host']}:{PG['port']} ({type(e).__name__}: {e})"


def _postgres_env() -> tuple[dict[str, str], str]:
    reason = postgres_available()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires PostgreSQL: {reason}")
        pytest.skip(reason)
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(autocommit=True, **PG) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": PG["dbname"],
        "POSTGRES_HOST": PG["host"],
        "POSTGRES_PORT": str(PG["port"]),
        "POSTGRES_USER": PG["user"],
        "POSTGRES_PASSWORD": "",
        "POSTGRES_SCHEMA": schema,
        "POSTGRES_POOL_SIZE": "4",
    }
    return env, schema


def _drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(autocommit=True, **PG) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgres"])
def store_env(request, tmp_path):
    """eventsourcing settings for a fresh, empty store on each backend."""
    if request.param == "sqlite":
        yield {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.db")}
        return
    env, schema = _postgres_env()
    yield env
    _drop_schema(schema)


def ledger_environ(store_env: dict[str, str]) -> dict[str, str]:
    """The environment a `ledger` process needs to open the store of `store_env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LEDGER_", "POSTGRES_", "SQLITE_", "PERSISTENCE_"))}
    if store_env["PERSISTENCE_MODULE"].endswith("sqlite"):
        env["LEDGER_DB"] = store_env["SQLITE_DBNAME"]
    else:
        env["LEDGER_DATABASE_URL"] = (
            f"postgresql://{store_env['POSTGRES_USER']}@{store_env['POSTGRES_HOST']}:{store_env['POSTGRES_PORT']}"
            f"/{store_env['POSTGRES_DBNAME']}"
        )
        env["LEDGER_DATABASE_SCHEMA"] = store_env["POSTGRES_SCHEMA"]
        # The log's signing key would otherwise be made in the working directory.
        env["LEDGER_LOG_KEY"] = str(Path(tempfile.gettempdir()) / f"ledger-{store_env['POSTGRES_SCHEMA']}.log-key")
    return env


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def ledger(store_env, clock):
    ledger = Ledger(env=store_env, clock=clock)
    yield ledger
    ledger.close()


@pytest.fixture
def sqlite_ledger(tmp_path, clock):
    """For rule tests that go through commands but are not about storage."""
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "l.db")}, clock=clock)
    yield ledger
    ledger.close()


CLERK = Actor("clerk-01", "collector", "QJ-001")
BUREAU = Actor("officer-07", "bureau", "QJ-bureau")


def stored_rows(views) -> list[tuple]:
    """Every row of the report projection, as text, sorted; without `loaded`, which says only
    which batch wrote a row (a rebuild and a follower batch differently, to the same rows)."""
    from projections.viewstore import PAYMENT_COLUMNS, PERSON_COLUMNS

    return sorted(
        tuple(str(v) for v in r)
        for table, columns in ((views.person_rows, PERSON_COLUMNS), (views.payment_rows, PAYMENT_COLUMNS))
        for r in views.query(f"SELECT {', '.join(c for c in columns if c != 'loaded')} FROM {table}", [])
    )


def event_count(ledger: Ledger) -> int:
    return ledger.store.recorder.max_notification_id() or 0


@pytest.fixture
def api(store_env, clock):
    """A TestClient over a fresh ledger, with a token per role and two region-scoped ones."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.auth import Tokens

    ledger = Ledger(env=store_env, clock=clock)
    tokens = Tokens(ledger)
    issued = {
        role: tokens.create(role, [], f"P-{role}", f"{role}-all")[1]
        for role in ("collector", "bureau", "auditor", "admin")
    }
    issued["scoped"] = tokens.create("collector", ["500110"], "P-QJ", "collector-qijiang")[1]
    issued["scoped_bureau"] = tokens.create("bureau", ["500110"], "P-QJB", "bureau-qijiang")[1]
    client = TestClient(create_app(ledger), raise_server_exceptions=False)
    client.ledger, client.tokens = ledger, issued
    yield client
    ledger.close()


@pytest.fixture(autouse=True)
def _policy_book_per_test():
    """The policies loaded into a ledger are in force process-wide (as in `ledger serve`): each test
    starts and ends with the shipped files alone, whatever ledger the test before it opened."""
    from domain.policy import install_loaded

    install_loaded([])
    yield
    install_loaded([])
