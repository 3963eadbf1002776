"""How the report rows are stored: the interval tree finds exactly the versions believed at a
moment, the closed rows' partial index is the one past-time queries read, and a new SQLite views
file gets large pages."""

import sqlite3
from datetime import date, datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.intervals import OPEN, ROOT, fork, micros, path
from projections.queries import ViewSource
from projections.service import Reports
from projections.viewstore import PAGE_SIZE, RETIRED_INDEXES, ViewStore, views_env
from test_reports_more import history

# Recording times as the ledger makes them: microseconds between 2020 and 2040.
MOMENTS = st.integers(micros(datetime(2020, 1, 1, tzinfo=timezone.utc)), micros(datetime(2040, 1, 1, tzinfo=timezone.utc)))


def _found(lo: int, hi: int, q: int) -> bool:
    """Whether the query for moment q reads the interval [lo, hi] where it is filed."""
    left, right = path(q)
    node = fork(lo, hi)
    return (node in left and hi >= q) or (node in right and lo <= q)


@settings(max_examples=2000, deadline=None)
@given(lo=MOMENTS, length=st.integers(0, 10**12), still_open=st.booleans(), q=st.one_of(MOMENTS, st.just(OPEN)))
def test_the_tree_finds_an_interval_exactly_when_it_holds_the_moment(lo, length, still_open, q):
    hi = OPEN if still_open else lo + length
    assert _found(lo, hi, q) == (lo <= q <= hi)


@given(lo=st.one_of(MOMENTS, st.integers(1, ROOT - 1)))
def test_every_open_interval_is_filed_at_the_root(lo):
    """The rows still believed are written with node ROOT without computing it (projections/rows.py)."""
    assert fork(lo, OPEN) == ROOT


@given(q=st.one_of(MOMENTS, st.just(OPEN)))
def test_the_root_is_never_read_through_the_upper_bound(q):
    left, right = path(q)
    assert all(node < ROOT for node in left)
    assert ROOT in right  # where every open interval is filed


def _plan(reports: Reports, known_at: datetime | None) -> str:
    views = reports.views
    sql, params = ViewSource(views, known_at)._believed(views.person_rows, "year, region", (2022, 0), "500237103",
                                                        date(2022, 6, 30))
    if views.postgres:
        with views.reading() as c:
            c.execute("SET enable_seqscan = off")  # a table this small would be scanned whatever its indexes
            c.execute("EXPLAIN " + sql.replace("?", "%s"), params)
            return " ".join(r["QUERY PLAN"] for r in c.fetchall())
    return " ".join(str(r) for r in views.query("EXPLAIN QUERY PLAN " + sql, params))


def test_past_time_queries_read_the_closed_rows_through_their_partial_index(api, clock):
    history(api)
    past = clock.advance(minutes=1)
    reports = Reports(api.ledger.store, api.ledger.env)
    try:
        reports.follower.rebuild()
        assert "person_rows_believed_closed" in _plan(reports, past)
        now = _plan(reports, None)
        assert "person_rows_believed_lower" in now and "person_rows_believed_closed" not in now
    finally:
        reports.close()


def test_a_new_sqlite_views_file_has_large_pages_and_an_old_one_keeps_its_own(tmp_path):
    store = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(tmp_path / "ledger.db")}
    fresh = ViewStore(views_env(store, {}))
    assert fresh.query("PRAGMA page_size", []) == [(PAGE_SIZE,)]
    fresh.close()
    old_file = tmp_path / "old.views.db"
    with sqlite3.connect(old_file) as c:
        c.execute("PRAGMA page_size = 4096")
        c.execute("CREATE TABLE earlier (x)")
    old = ViewStore(views_env(store, {"LEDGER_VIEWS_DB": str(old_file)}))
    assert old.query("PRAGMA page_size", []) == [(4096,)]
    assert old.counts() == {"person_rows": 0, "payment_rows": 0}
    old.close()


def test_opening_a_projection_drops_the_retired_upper_bound_index(store_env):
    views = ViewStore(views_env(store_env, {}))
    with views.recorder.datastore.transaction(commit=True) as c:
        c.execute(f"CREATE INDEX {RETIRED_INDEXES[0]} ON {views.person_rows} (year, node, rec_hi)")
    views.close()
    reopened = ViewStore(views_env(store_env, {}))
    if reopened.postgres:
        found = reopened.query("SELECT indexname FROM pg_indexes WHERE schemaname = ?", [store_env["POSTGRES_SCHEMA"]])
    else:
        found = reopened.query("SELECT name FROM sqlite_master WHERE type = 'index'", [])
    names = {name for (name,) in found}
    assert "person_rows_believed_closed" in names and not names & set(RETIRED_INDEXES)
    reopened.close()
