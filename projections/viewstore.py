"""Where the report projection keeps its rows and its position in the event log.

The library's tracking recorders (SQLite, PostgreSQL) record the position; this module adds the
row tables to the same recorder, so a batch's rows, the totals (projections/totals.py) and its
position commit in one transaction: a batch is either wholly applied and counted, or not at all
(exactly once). A batch is applied only where the position stands just before its first event,
so of two followers racing from one position only the first applies anything.

SQLite: the rows live in their own file beside the ledger's (LEDGER_VIEWS_DB, default ledger.db ->
ledger.views.db), so rebuilding or catching up never holds the ledger's write lock. PostgreSQL:
tables person_rows, payment_rows, the totals and views_tracking in the ledger's own database and
schema, or in those LEDGER_VIEWS_URL and LEDGER_VIEWS_SCHEMA name (see views_env).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from operator import itemgetter
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import InfrastructureFactory, IntegrityError, OperationalError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from eventsourcing.utils import Environment
from psycopg import postgres
from psycopg.adapt import Dumper
from psycopg.pq import Format
from psycopg.sql import SQL, Identifier

from domain.errors import InvalidInput
from domain.store import postgres_connection, postgres_env, schema_lock
from projections import totals
from projections.intervals import ROOT
from projections.rows import PaymentFacts, Row, YearFacts

NAME = "reports"  # the projection's name in the tracking table
_APPLY_LOCK = 4_711_2022  # the advisory lock under which the rows and totals are written (PostgreSQL)
log = logging.getLogger("ledger.projection")

_RANGES = ["rec_lo", "rec_hi", "node", "eff_lo", "eff_hi"]  # the order of Row
# `loaded`: the log position of the batch that wrote the row (see ViewStore.settle).
PERSON_COLUMNS = ["person", *_RANGES, *YearFacts._fields, "loaded"]
PAYMENT_COLUMNS = ["person", *_RANGES, *PaymentFacts._fields, "loaded"]
_TEXT = {"elsewhere", "region", "categories", "funder", "funder_name", "category", "name", "id_mask", "payment_id",
         "channel", "collection_point", "receipt_no"}


# What a report reads of a believed row, carried in the interval-tree indexes themselves: the
# query then never visits the table, so its cost follows the rows believed at T, not the number
# of versions corrections have added (measured: bench/RESULTS.md).
COVERED = {
    "person_rows": ["eff_lo", "eff_hi", "region", "enrolled", "paid", "benefit_start", "benefit_end", "categories",
                    "undetermined", "owed_unknown"],
    "payment_rows": ["eff_lo", "eff_hi", "region", "day", "channel", "collection_point", "amount_fen", "receipt_no"],
}


# The person rows' latest facts: a table without one of them is of an older shape.
SHAPE_COLUMNS = ("undetermined", "elsewhere", "owed_unknown", "amount_unknown")

LEFT_OF_ROOT = f"node < {ROOT}"  # the closed rows' index condition, which its queries repeat word for word


def _pg_type(column: str) -> str:
    return "uuid" if column == "person" else "text" if column in _TEXT else "int8"


def _table_sql(table: str, columns: list[str], postgres: bool) -> list[str]:
    cols = ", ".join(f"{c} {_pg_type(c) if postgres else 'TEXT' if c == 'person' or c in _TEXT else 'INTEGER'} NOT NULL"
                     for c in columns)
    covered = ", ".join(COVERED[table])

    def tree_index(name: str, bound: str, where: str = "") -> str:
        keys = f"(year, node, {bound}) INCLUDE ({covered})" if postgres else f"(year, node, {bound}, {covered})"
        return f"CREATE INDEX IF NOT EXISTS {table}_{name} ON {{s}}{table} {keys}{where}"

    # The two interval-tree indexes (projections/intervals.py) and one to replace a person's rows.
    # The upper bound's holds only the closed rows, those left of the root: the open ones (two
    # thirds) are always read through the lower bound, and they made the upper index the slowest
    # to build, sharing one (year, node, rec_hi) and so sorted by the covered columns (2.9 s
    # against 0.5 s, full Qianjiang on SQLite).
    return [
        f"CREATE TABLE IF NOT EXISTS {{s}}{table} ({cols})",
        tree_index("believed_closed", "rec_hi", f" WHERE {LEFT_OF_ROOT}"),
        tree_index("believed_lower", "rec_lo"),
        f"CREATE INDEX IF NOT EXISTS {table}_person ON {{s}}{table} (person)",
        # The few persons with cover held elsewhere, which the assisted counts leave out: found
        # without reading every assisted row.
        *([f"CREATE INDEX IF NOT EXISTS {table}_elsewhere ON {{s}}{table} (year, person) WHERE elsewhere <> ''",
           open_index(postgres),
           # The persons whose subsidy other rules set (据实), which the subsidies report folds.
           f"CREATE INDEX IF NOT EXISTS {table}_amount_unknown ON {{s}}{table} (year, region)"
           f" WHERE amount_unknown = 1 AND node = {ROOT}"] if table == "person_rows" else []),
        # The cash receipts the collections report lists beside the totals.
        *([f"CREATE INDEX IF NOT EXISTS {table}_cash ON {{s}}{table} (year, region)"
           f" WHERE channel = 'cash' AND node = {ROOT}"] if table == "payment_rows" else []),
    ]


# What the enrollment report reads of the current belief (the open rows, all filed at the root),
# in region order: its counts per village then stream out of the index without a sort, half the
# time of the same counts through the interval-tree index at full Qianjiang scale (530 -> 270 ms).
OPEN_COVERED = ["eff_lo", "eff_hi", "enrolled", "paid", "benefit_start", "benefit_end", "categories", "undetermined",
                "owed_unknown"]


def open_index(postgres: bool) -> str:
    covered = ", ".join(OPEN_COVERED)
    keys = f"(year, region) INCLUDE ({covered})" if postgres else f"(year, region, {covered})"
    return f"CREATE INDEX IF NOT EXISTS person_rows_open ON {{s}}person_rows {keys} WHERE node = {ROOT}"


# During a parallel rebuild: the persons whose earlier rows a later range replaced, with that
# range's position, so that the load can go without the person index and drop those earlier rows
# once, at the end (ViewStore.settle).
_REPLACED = "CREATE TABLE IF NOT EXISTS {s}replaced_persons (person %s NOT NULL, loaded %s NOT NULL)"


def _all_tables(postgres: bool) -> list[str]:
    return [*_table_sql("person_rows", PERSON_COLUMNS, postgres), *_table_sql("payment_rows", PAYMENT_COLUMNS, postgres),
            _REPLACED % (("uuid", "int8") if postgres else ("TEXT", "INTEGER")),
            *totals.table_statements(postgres),
            "CREATE TABLE IF NOT EXISTS {s}village_policy (region text PRIMARY KEY, policy_region text NOT NULL)"]


# What the totals read of the rows a batch writes (see flatten), open rows only.
_PERSON_READ = itemgetter(*(PERSON_COLUMNS.index(c) for c in totals.PERSON_READ))
_PAYMENT_READ = itemgetter(*(PAYMENT_COLUMNS.index(c) for c in totals.PAYMENT_READ))
_NODE = PERSON_COLUMNS.index("node")
assert _NODE == PAYMENT_COLUMNS.index("node")


def _index_name(statement: str) -> str:
    return statement.split()[5]  # CREATE INDEX IF NOT EXISTS <name> ON ...


def _index_statements(postgres: bool, names: list[str] | None = None) -> list[str]:
    """The CREATE INDEX statements of the tables: all of them, or those of the indexes named."""
    found = [st for st in _all_tables(postgres) if st.startswith("CREATE INDEX")]
    return found if names is None else [st for st in found if _index_name(st) in names]


TREE_INDEXES = [*(f"{t}_believed_{b}" for t in ("person_rows", "payment_rows") for b in ("closed", "lower")),
                "person_rows_open"]
# Indexes of earlier versions, dropped when the store is opened.
RETIRED_INDEXES = [f"{t}_believed_upper" for t in ("person_rows", "payment_rows")]
PERSON_INDEXES = [f"{t}_person" for t in ("person_rows", "payment_rows")]


def flatten(rows: dict[UUID, list[Row]], postgres: bool, loaded: int) -> tuple[list[tuple], list[tuple]]:
    """Rows as the values of the two tables (made in worker processes during a parallel rebuild),
    written by the batch that ends at position `loaded`."""
    person_values: list[tuple] = []
    payment_values: list[tuple] = []
    person, payment = person_values.append, payment_values.append
    tail = (loaded,)
    for pid, rs in rows.items():
        # PostgreSQL: the 16 bytes of the uuid (see _UUIDBytes); a UUID object cost 3 µs a row
        # to pickle and unpickle on its way from a rebuild's workers.
        key = (pid.bytes if postgres else pid.hex,)
        for r in rs:
            facts = r[5]
            # Tuples joined, not unpacked into a new one: 0.81 against 0.95 µs a row.
            (person if type(facts) is YearFacts else payment)(key + r[:5] + facts + tail)
    return person_values, payment_values


class _UUIDBytes(Dumper):
    """A person's uuid given as its 16 bytes, which is the binary form COPY takes."""

    format = Format.BINARY
    oid = postgres.types["uuid"].oid

    def dump(self, obj: bytes) -> bytes:
        return obj


def _table_statements(postgres: bool) -> list[str]:
    """The tables alone: their indexes are made by ViewStore._migrate, after it has checked that
    the tables are of this version's shape (an index naming a column an older table lacks would
    fail before the migration could make the table again)."""
    return [st for st in _all_tables(postgres) if not st.startswith("CREATE INDEX")]


class SQLiteViewRecorder(SQLiteTrackingRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(),
                *(s.format(s="") for s in _table_statements(postgres=False))]


class PostgresViewRecorder(PostgresTrackingRecorder):
    def __init__(self, datastore: Any, **kwargs: Any):
        super().__init__(datastore, **kwargs)
        schema = Identifier(datastore.schema).as_string() + "."
        for statement in _table_statements(postgres=True):
            # Index names are per schema in PostgreSQL: no schema prefix for them.
            self.sql_create_statements.append(SQL(statement.replace("{s}", schema)))  # type: ignore[arg-type]


def views_env(store_env: dict[str, str], environ: dict[str, str] | None = None) -> dict[str, str]:
    """Where the rows live, for a ledger stored as `store_env` says. PostgreSQL: the ledger's own
    database and schema, or those of LEDGER_VIEWS_URL and LEDGER_VIEWS_SCHEMA (a replica's
    server or another database, so reports are read where collection points do not write)."""
    environ = dict(os.environ if environ is None else environ)
    env = dict(store_env)
    postgres = env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"
    url = environ.get("LEDGER_VIEWS_URL", "").strip()
    if url and not postgres:
        raise InvalidInput("goes with a PostgreSQL ledger (LEDGER_DATABASE_URL); a SQLite ledger keeps its report rows"
                           " in LEDGER_VIEWS_DB", "LEDGER_VIEWS_URL", "views_url")
    if url:
        return postgres_env(url, "LEDGER_VIEWS_URL", environ.get("LEDGER_VIEWS_SCHEMA"), environ)
    if not postgres:
        name = env.get("SQLITE_DBNAME", "ledger.db")
        if ":memory:" in name:  # an in-memory ledger (tests) gets in-memory rows, not a file named ":memory:"
            env["SQLITE_DBNAME"] = ":memory:"
        else:
            ledger_db = Path(name)
            env["SQLITE_DBNAME"] = environ.get("LEDGER_VIEWS_DB") or str(ledger_db.with_suffix(".views" + ledger_db.suffix))
    return env


PAGE_SIZE = 16384


def _create_with_large_pages(path: str) -> None:
    """A new SQLite views file gets 16 KiB pages: a quarter as many pages to build and to free,
    so at full Qianjiang scale the indexes build a fifth faster and clearing for a rebuild a
    third faster than with the default 4 KiB (bench/RESULTS.md). The size is fixed once the file
    is in WAL mode, so an existing file keeps its own."""
    if ":memory:" in path or path.startswith("file:") or os.path.exists(path):
        return
    with closing(sqlite3.connect(path)) as c:
        c.execute(f"PRAGMA page_size = {PAGE_SIZE}")
        c.execute("PRAGMA journal_mode = WAL")  # writes the header, page size included


class ViewStore:
    """The projection's rows and position, on SQLite or PostgreSQL."""

    def __init__(self, env: dict[str, str], shared: Any = None):
        """`shared`: the ledger's PostgreSQL datastore, whose connection pool the rows then use
        (same database, so no second pool). SQLite rows get their own file and datastore."""
        self.postgres = env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"
        self.env = env
        self.factory = None
        with schema_lock(env):
            if self.postgres and shared is not None:
                self.recorder = PostgresViewRecorder(shared, tracking_table_name="views_tracking")
                self.recorder.create_table()
            else:
                if not self.postgres:
                    _create_with_large_pages(env["SQLITE_DBNAME"])
                self.factory = InfrastructureFactory.construct(Environment("views", env))
                recorder_class = PostgresViewRecorder if self.postgres else SQLiteViewRecorder
                try:
                    self.recorder = self.factory.tracking_recorder(recorder_class)
                except IntegrityError:
                    # SQLite: another process made the tables at the same moment (the library
                    # then fails to record its migration marker twice); they exist now.
                    self.recorder = self.factory.tracking_recorder(recorder_class)
            # Table and index names as SQL writes them: schema-qualified on PostgreSQL.
            self.schema = (Identifier(self.recorder.datastore.schema).as_string() + ".") if self.postgres else ""
            self._migrate()
        self.person_rows = self.schema + "person_rows"
        self.payment_rows = self.schema + "payment_rows"
        self.tracking_table = (
            self.schema + Identifier(self.recorder.tracking_table_name).as_string() if self.postgres else "tracking"
        )
        self.settle()  # a rebuild killed part-way may have left replaced rows behind

    def _has_column(self, c: Any, table: str, column: str) -> bool:
        if self.postgres:
            c.execute("SELECT 1 FROM information_schema.columns WHERE table_schema = %s AND table_name = %s"
                      " AND column_name = %s", (self.recorder.datastore.schema, table, column))
        else:
            c.execute(f"SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?", (column,))
        return c.fetchone() is not None

    def _of_this_shape(self, c: Any) -> bool:
        """The person rows carry every fact the reports now read (older rows cannot be completed)."""
        return all(self._has_column(c, "person_rows", column) for column in SHAPE_COLUMNS)

    def _is_current(self, c: Any) -> bool:
        """The tables of this version's shape, with its indexes and none of the retired ones."""
        if self.postgres:
            c.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", (self.recorder.datastore.schema,))
        else:
            c.execute("SELECT name FROM sqlite_master WHERE type = 'index'")
        indexes = {row[0] if not isinstance(row, dict) else row["indexname"] for row in c.fetchall()}
        wanted = {_index_name(st) for st in _index_statements(self.postgres)}
        return (wanted <= indexes and not indexes & set(RETIRED_INDEXES) and self._of_this_shape(c)
                and all(self._has_column(c, table, "loaded") for table in ("person_rows", "payment_rows")))

    def _migrate(self) -> None:
        """Tables made by earlier versions: rows get `loaded` (0 is older than any batch), and the
        retired indexes go (their successors were made with the tables). Rows of an older shape
        (without a fact the reports now count, such as `undetermined` or `elsewhere`) cannot be completed in
        place: they are dropped with the projection's position, and the rows are made again from
        the log (`ledger rebuild`, or the next catch-up)."""
        for attempt in range(100):
            with self.recorder.datastore.transaction(commit=False) as c:
                if self._is_current(c):
                    return  # nothing to change: no write lock taken, so opening never waits on a writer
            try:
                return self._migrate_now()
            except OperationalError as e:
                # Another process opening the same SQLite file changes it at this moment, and SQLite
                # refuses (rather than waits for) a reader turning writer: look again shortly.
                if "locked" not in str(e) or attempt == 99:
                    raise
                time.sleep(0.05)

    def _migrate_now(self) -> None:
        with self.recorder.datastore.transaction(commit=True) as c:
            for index in RETIRED_INDEXES:
                c.execute(f"DROP INDEX IF EXISTS {self.schema}{index}")
            if not self._of_this_shape(c):
                log.warning("the report projection's rows are of an older shape: they are made again from the log")
                for table in ("person_rows", "payment_rows", "replaced_persons"):
                    c.execute(f"DROP TABLE IF EXISTS {self.schema}{table}")
                tracking = self.recorder.tracking_table_name if self.postgres else "tracking"
                c.execute(f"DELETE FROM {self.schema}{tracking}"
                          f" WHERE application_name = {'%s' if self.postgres else '?'}", (NAME,))
                for statement in _table_statements(self.postgres):
                    c.execute(statement.replace("{s}", self.schema))
            for table in ("person_rows", "payment_rows"):
                if not self._has_column(c, table, "loaded"):
                    c.execute(f"ALTER TABLE {self.schema}{table} ADD COLUMN loaded {_pg_type('loaded') if self.postgres else 'INTEGER'}"
                              " NOT NULL DEFAULT 0")
            for statement in _index_statements(self.postgres):
                c.execute(statement.replace("{s}", self.schema))

    def close(self) -> None:
        if self.factory is not None:
            self.factory.close()

    # -- position ----------------------------------------------------------------------------
    def position(self) -> int:
        return self.recorder.max_tracking_id(NAME) or 0

    # -- writing -----------------------------------------------------------------------------
    def apply(self, replaced: Sequence[UUID], rows: dict[UUID, list[Row]], position: int, start: int) -> None:
        """Replace the rows of `replaced` persons, add `rows`, record `position`: one transaction,
        for the batch of notifications `start`..`position`."""
        self.apply_values(replaced, *flatten(rows, self.postgres, position), position, start=start)

    def apply_values(self, replaced: Sequence[UUID], person_values: list[tuple], payment_values: list[tuple],
                     position: int, deferred: bool = False, start: int | None = None) -> None:
        """`deferred` (a rebuild's bulk load): the replaced persons' earlier rows are only noted,
        to be dropped by settle(), so the load needs no person index. `start`: the batch's first
        notification; refused (IntegrityError, nothing written) unless the rows stand just before
        it. Another follower (a second process, a report's catch-up) may have applied a batch
        meanwhile that ends inside this one: the persons who first appear in it have rows already,
        which this batch, not knowing them as earlier persons, would add a second time."""
        with self.recorder.datastore.transaction(commit=True) as c:
            if not deferred:
                self._turn(c)
            at = self._position_in(c)
            if start is not None and at != start - 1:
                raise IntegrityError(f"the report rows no longer stand at {start - 1}: another follower applied"
                                     " a batch meanwhile")
            # The totals are kept while they stand at the rows' position: from the open rows the
            # batch replaces (read before they go) and those it writes.
            kept = not deferred and self._totals_kept(c, at)
            if kept:
                people: totals.Changes = {}
                subsidies: totals.Changes = {}
                payments: totals.Changes = {}
                channels: totals.Changes = {}
                if replaced:
                    old_people, old_payments = self._open_rows(c, list(replaced))
                    totals.person_changes(old_people, -1, people, subsidies)
                    totals.payment_changes(old_payments, -1, payments, channels)
                totals.person_changes((_PERSON_READ(v) for v in person_values if v[_NODE] == ROOT), 1, people,
                                      subsidies)
                totals.payment_changes((_PAYMENT_READ(v) for v in payment_values if v[_NODE] == ROOT), 1, payments,
                                       channels)
            if replaced and deferred:
                c.executemany(self._sql(f"INSERT INTO {self.schema}replaced_persons VALUES (?, ?)"),
                              [(p if self.postgres else p.hex, position) for p in replaced])
            elif replaced:
                self._delete(c, list(replaced))
            self._insert(c, self.person_rows, PERSON_COLUMNS, person_values)
            self._insert(c, self.payment_rows, PAYMENT_COLUMNS, payment_values)
            if kept:
                for (table, keys, figures), changes in zip(totals.TABLES, (people, subsidies, payments, channels)):
                    self._add_totals(c, table, keys, figures, totals.flat(changes))
                self._mark_totals(c, position)
            self.recorder._insert_tracking(c, Tracking(NAME, position))

    def clear(self, drop_indexes: bool = False) -> None:
        """Back to zero, rows and position together (the start of a rebuild). `drop_indexes`: also
        the indexes, for a bulk load; index() makes them again (and so does opening the store,
        should the load be killed first)."""
        with self.recorder.datastore.transaction(commit=True) as c:
            if drop_indexes:
                for index in TREE_INDEXES + PERSON_INDEXES:
                    c.execute(f"DROP INDEX IF EXISTS {self.schema}{index}")
            c.execute(f"DELETE FROM {self.schema}replaced_persons")
            for table, _, _ in totals.TABLES:
                c.execute(f"DELETE FROM {self.schema}{table}")
            c.execute(f"DELETE FROM {self.schema}totals_state")
            for table in (self.person_rows, self.payment_rows):
                # Both are quick whatever the size (SQLite's DELETE without WHERE truncates) and
                # both are rolled back with the rest if the transaction fails.
                c.execute(f"TRUNCATE {table}" if self.postgres else f"DELETE FROM {table}")
            c.execute(self._sql(f"DELETE FROM {self.tracking_table} WHERE application_name = ?"), (NAME,))
        if drop_indexes and not self.postgres:
            # Loading into the pages the old rows left free took a third longer than into a
            # fresh file (26.4 s against 20.0 s, full Qianjiang); with the tables empty, VACUUM
            # hands those pages back at once.
            with self.recorder.datastore.get_connection(commit=True) as conn:
                conn.cursor().execute("VACUUM")

    def settle(self) -> None:
        """Drop the rows that a deferred load replaced (see apply_values): those of a noted person
        written before the batch that replaced them. The person index is made first if the load
        dropped it."""
        with self.recorder.datastore.transaction(commit=True) as c:
            c.execute(f"SELECT EXISTS (SELECT 1 FROM {self.schema}replaced_persons)")
            found = c.fetchone()
            if not (found["exists"] if self.postgres else found[0]):
                return
            for statement in _index_statements(self.postgres, PERSON_INDEXES):
                c.execute(statement.replace("{s}", self.schema))
            for table in (self.person_rows, self.payment_rows):
                c.execute(f"DELETE FROM {table} WHERE person IN (SELECT person FROM {self.schema}replaced_persons)"
                          f" AND loaded < (SELECT max(loaded) FROM {self.schema}replaced_persons x"
                          f" WHERE x.person = {table}.person)")
            c.execute(f"DELETE FROM {self.schema}replaced_persons")

    def index(self) -> None:
        """The indexes, after a bulk load: made once from sorted rows, far faster than row by
        row. Statistics follow in vacuum()."""
        statements = [st.replace("{s}", self.schema) for st in _index_statements(self.postgres)]
        if self.postgres:
            self._side_by_side([[st] for st in statements])
            return
        with self.recorder.datastore.transaction(commit=True) as c:
            c.execute(f"PRAGMA threads = {min(os.cpu_count() or 1, 4)}")  # sort with helper threads: a fifth faster
            for statement in statements:
                c.execute(statement)

    def _side_by_side(self, work: list[list[str]]) -> None:
        """PostgreSQL: each list of statements on a connection of its own, one per core at a
        time. Index builds and vacuums of the rows take no lock that another of them waits on,
        so the server's processes overlap them (the six indexes at full scale: 3.1-3.4 s instead
        of 3.7-4.8 s one after the other)."""
        def run(statements: list[str]) -> None:
            with postgres_connection(self.env) as conn:
                for statement in statements:
                    conn.execute(statement)

        with ThreadPoolExecutor(min(len(work), os.cpu_count() or 1)) as pool:
            for done in [pool.submit(run, w) for w in work]:
                done.result()  # the first failure, raised here

    def vacuum(self, reindex: bool = False) -> None:
        """After a bulk load or many replaced rows: fresh statistics for the query planner and,
        on PostgreSQL, vacuumed rows. Until the vacuum runs, the covering indexes cannot answer
        alone (each hit is checked in the table), which made a past-time report three times
        slower after 5 corrections per person (bench/RESULTS.md)."""
        if not self.postgres:
            with self.recorder.datastore.transaction(commit=True) as c:
                # ANALYZE samples each index rather than reading it whole (0.7 s at full scale):
                # the planner needs the shape of the data, not exact counts.
                c.execute("PRAGMA analysis_limit = 1000")
                for table in (self.person_rows, self.payment_rows):
                    c.execute(f"ANALYZE {table}")
            return
        # VACUUM cannot run inside a transaction, so each table gets a connection of its own.
        self._side_by_side([[f"VACUUM (ANALYZE) {table}"] for table in (self.person_rows, self.payment_rows)])
        if reindex:
            # Rows replaced by the thousand leave the interval-tree indexes sparse; rebuilt
            # dense (without blocking writers) they read as fast as after a rebuild. One at a
            # time: a table takes one concurrent rebuild at once.
            self._side_by_side([[f"REINDEX INDEX CONCURRENTLY {self.schema}{index}" for index in TREE_INDEXES]])

    # -- totals ------------------------------------------------------------------------------
    def _fetch(self, c: Any, statement: str, params: Sequence[Any] = ()) -> list[tuple]:
        """Rows as tuples inside a transaction (the library's PostgreSQL cursors give dicts)."""
        if self.postgres:
            from psycopg.rows import tuple_row

            c = c.connection.cursor(row_factory=tuple_row)
        c.execute(self._sql(statement), list(params))
        return [tuple(r) for r in c.fetchall()]

    def _turn(self, c: Any) -> None:
        """Writers of the rows and totals take turns until the transaction ends: on PostgreSQL by a
        lock of their own (the state and tracking rows may not exist yet); SQLite's take turns already."""
        if self.postgres:
            c.execute("SELECT pg_advisory_xact_lock(%s)", (_APPLY_LOCK,))

    def _position_in(self, c: Any) -> int:
        at = self._fetch(c, f"SELECT notification_id FROM {self.tracking_table} WHERE application_name = ?", [NAME])
        return at[0][0] if at else 0

    def _totals_kept(self, c: Any, position: int) -> bool:
        """Whether the totals stand at the rows' `position` under the policy regions in force."""
        found = self._fetch(c, f"SELECT position, policy_regions FROM {self.schema}totals_state WHERE name = ?", [NAME])
        return bool(found) and found[0][0] == position and found[0][1] == totals.policy_signature()

    def totals_ready(self) -> bool:
        """Whether the totals answer for the current belief: kept up to the rows' position under the
        policy regions in force."""
        with self.reading() as c:
            return self._totals_kept(c, self._position_in(c))

    def _mark_totals(self, c: Any, position: int) -> None:
        c.execute(self._sql(f"INSERT INTO {self.schema}totals_state VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE"
                            " SET position = excluded.position, policy_regions = excluded.policy_regions"),
                  (NAME, position, totals.policy_signature()))

    def _open_rows(self, c: Any, people: list[UUID]) -> tuple[list[tuple], list[tuple]]:
        """The open rows of these persons, as the totals read them."""
        found = []
        for table, columns in ((self.person_rows, totals.PERSON_READ), (self.payment_rows, totals.PAYMENT_READ)):
            select = f"SELECT {', '.join(columns)} FROM {table} WHERE node = {ROOT} AND person"
            if self.postgres:
                found.append(self._fetch(c, select + " = ANY(?)", [people]))
                continue
            rows = []
            for start in range(0, len(people), 500):
                chunk = [p.hex for p in people[start:start + 500]]
                rows += self._fetch(c, f"{select} IN ({','.join('?' * len(chunk))})", chunk)
            found.append(rows)
        return found[0], found[1]

    def _add_totals(self, c: Any, table: str, keys: list[str], figures: list[str], values: list[tuple]) -> None:
        """Add changes to a totals table; lines whose figures come to nothing go."""
        if not values:
            return
        target = self.schema + table
        zero = " AND ".join(f"{f} = 0" for f in figures)
        if self.postgres:
            # Loaded by COPY into a table of this transaction, then added in one statement each way.
            c.execute(f"CREATE TEMP TABLE IF NOT EXISTS {table}_changes (LIKE {target}) ON COMMIT DELETE ROWS")
            loader = c.connection.cursor()
            with loader.copy(f"COPY {table}_changes ({', '.join(keys + figures)}) FROM STDIN") as copy:
                for v in values:
                    copy.write_row(v)
            c.execute(totals.upsert_statement(target, keys, figures, True, f"{table}_changes"))
            c.execute(f"DELETE FROM {target} t USING {table}_changes x WHERE "
                      + " AND ".join(f"t.{k} = x.{k}" for k in keys) + " AND " + " AND ".join(f"t.{f} = 0" for f in figures))
            return
        c.executemany(totals.upsert_statement(target, keys, figures, False), values)
        c.executemany(f"DELETE FROM {target} WHERE {' AND '.join(f'{k} = ?' for k in keys)} AND {zero}",
                      [v[:len(keys)] for v in values])

    def recompute_totals(self) -> None:
        """Make the totals again from the open rows, at the rows' position, under the policies in
        force: after a rebuild, or when a policy named a new region."""
        started = time.perf_counter()
        s = self.schema
        with self.recorder.datastore.transaction(commit=True) as c:
            self._turn(c)
            position = self._position_in(c)
            villages = {r for table in (self.person_rows, self.payment_rows)
                        for (r,) in self._fetch(c, f"SELECT DISTINCT region FROM {table} WHERE node = {ROOT}")}
            c.execute(f"DELETE FROM {s}village_policy")
            if villages:
                c.executemany(self._sql(f"INSERT INTO {s}village_policy VALUES (?, ?)"),
                              [(v, totals.policy_region(v)) for v in villages])
            for statement in totals.recompute_statements(self.postgres, s, self.person_rows, self.payment_rows):
                c.execute(statement)
            self._mark_totals(c, position)
        # Formatted here: the log's masking reads a long run of digits as an identity number.
        log.info("report totals made again from the rows at position %s in %s s", position,
                 f"{time.perf_counter() - started:.1f}")

    def _delete(self, c: Any, people: list[UUID]) -> None:
        for table in (self.person_rows, self.payment_rows):
            if self.postgres:
                c.execute(f"DELETE FROM {table} WHERE person = ANY(%s)", (people,))
            else:
                for start in range(0, len(people), 500):
                    chunk = [p.hex for p in people[start:start + 500]]
                    c.execute(f"DELETE FROM {table} WHERE person IN ({','.join('?' * len(chunk))})", chunk)

    def _insert(self, c: Any, table: str, columns: list[str], values: list[tuple]) -> None:
        if not values:
            return
        if self.postgres:
            # COPY: fast, and free of the pipelined-executemany deadlock large batches meet (psycopg#685).
            # Binary: the server need not parse each number and identifier from text.
            loader = c.connection.cursor()  # same transaction; its bytes mean uuids, no other cursor's do
            loader.adapters.register_dumper(bytes, _UUIDBytes)
            with loader.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([_pg_type(column) for column in columns])
                for v in values:
                    copy.write_row(v)
        else:
            c.executemany(f"INSERT INTO {table} VALUES ({','.join('?' * len(columns))})", values)

    # -- reading -----------------------------------------------------------------------------
    def _sql(self, statement: str) -> str:
        return statement.replace("?", "%s") if self.postgres else statement

    @contextmanager
    def reading(self) -> Iterator[Any]:
        with self.recorder.datastore.transaction(commit=False) as c:
            yield c

    def query(self, statement: str, params: Sequence[Any]) -> list[tuple]:
        with self.reading() as c:
            if self.postgres:
                from psycopg.rows import tuple_row

                c = c.connection.cursor(row_factory=tuple_row)  # the library's cursors return dicts
            c.execute(self._sql(statement), list(params))
            return [tuple(r) for r in c.fetchall()]

    def persons_in(self, region: str, year: int) -> list[UUID]:
        """The persons with rows of `year` or later in `region` (a code prefix): those whose facts a
        new version of that region and year's policy may change."""
        found = self.query(f"SELECT DISTINCT person FROM {self.person_rows} WHERE year >= ? AND region LIKE ?",
                           [year, region + "%"])
        return [p if isinstance(p, UUID) else UUID(hex=p) for (p,) in found]

    def counts(self) -> dict[str, int]:
        return {t.rsplit(".", 1)[-1]: self.query(f"SELECT count(*) FROM {t}", [])[0][0]
                for t in (self.person_rows, self.payment_rows)}
