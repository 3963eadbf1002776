"""The event store: the eventsourcing library's recorders, with events stored as msgspec JSON.

SQLite by default (a file, LEDGER_DB, default ./ledger.db); PostgreSQL when
LEDGER_DATABASE_URL=postgresql://user:password@host:port/dbname is set.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any
from urllib.parse import unquote, urlsplit
from uuid import UUID

import msgspec
from psycopg.sql import SQL, Identifier
from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic

from domain.errors import InvalidInput

_encode = msgspec.json.Encoder().encode
# From this many events a transaction is written by COPY (below, one INSERT does as well).
COPY_FROM = 64
ANALYZE_FIRST = 50_000


@cache
def _decoder(topic: str) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(resolve_topic(topic))


@cache
def topic_of(cls: type) -> str:
    return get_topic(cls)


class MsgspecMapper(Mapper):
    """Encodes a whole event Struct with msgspec and decodes it by its topic's type.

    eventsourcing 9.5.6 ships no msgspec mapper. Compression and encryption hooks are kept.
    Upcasting: this mapper bypasses the library's `upcast_v1_v2` chain; when an event's shape
    changes, give the new field a default (msgspec fills it for old events) or add a new type.
    """

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = _encode(domain_event)
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=topic_of(type(domain_event)),
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        return self.decode(stored_event.topic, stored_event.state)

    def decode(self, topic: str, state: bytes) -> Any:
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return _decoder(topic).decode(state)


class EventStore(Application):
    """The write model's storage. The ledger's commands live in domain/ledger.py."""

    name = "ledger"
    # Events this process wrote by COPY, and at how many it next brings the table's statistics up to date.
    _copied = 0
    _analyze_at = ANALYZE_FIRST

    def select_streams(self, ids: list[UUID]) -> dict[UUID, list[Any]]:
        """Many streams in one query, for bulk loads (the library reads one stream per transaction)."""
        found: dict[UUID, list[Any]] = {i: [] for i in ids}
        if not ids:
            return found  # nothing to ask: no round trip
        recorder = self.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            statement = self._events_sql(
                "SELECT originator_id, originator_version, topic, state FROM {events}"
                " WHERE originator_id = ANY(%s) ORDER BY originator_id, originator_version")
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(statement, (ids,))
                rows = [(r["originator_id"], r["originator_version"], r["topic"], bytes(r["state"])) for r in cursor.fetchall()]
        else:
            rows = []
            for start in range(0, len(ids), 500):
                chunk = [i.hex for i in ids[start : start + 500]]
                statement = (
                    f"SELECT originator_id, originator_version, topic, state FROM {recorder.events_table_name}"
                    f" WHERE originator_id IN ({','.join('?' * len(chunk))}) ORDER BY originator_id, originator_version"
                )
                with recorder.datastore.transaction(commit=False) as cursor:
                    cursor.execute(statement, chunk)
                    rows.extend((UUID(r[0]), r[1], r[2], r[3]) for r in cursor.fetchall())
        for originator_id, version, topic, state in rows:
            found[originator_id].append(
                self.mapper.to_domain_event(StoredEvent(originator_id, version, topic, state))
            )
        return found

    def _events_sql(self, statement: str) -> Any:
        """A PostgreSQL statement with `{events}` standing for the events table, schema-qualified."""
        datastore = self.recorder.datastore
        return SQL(statement).format(events=SQL("{}.{}").format(Identifier(datastore.schema),
                                                                 Identifier(self.recorder.events_table_name)))

    def insert_stored(self, stored: list[StoredEvent]) -> None:
        """Events saved in one transaction, after any saved before them (notification ids in
        commit order). On PostgreSQL a large transaction goes by COPY: the library's INSERT
        builds an array of composite values in Python, about 60 µs an event, which was half of
        a first load's time; COPY's rows are encoded in C. Same table lock, same notification,
        same uniqueness checks, so a stream's version taken twice is refused (IntegrityError)."""
        recorder = self.recorder
        if len(stored) < COPY_FROM or not isinstance(recorder, PostgresApplicationRecorder):
            recorder.insert_events(stored)
            return
        statement = self._events_sql("COPY {events} (originator_id, originator_version, topic, state) FROM STDIN"
                                     " (FORMAT binary)")
        with recorder.datastore.transaction(commit=True) as cursor:
            recorder._lock_table(cursor)
            recorder._notify_channel(cursor)
            with cursor.copy(statement) as copy:
                copy.set_types(["uuid", "int8", "text", "bytea"])
                for e in stored:
                    copy.write_row((e.originator_id, e.originator_version, e.topic, e.state))
        self._copied += len(stored)
        if self._copied >= self._analyze_at:
            # A bulk load outgrows the planner's statistics long before autovacuum (if it runs at
            # all) analyses the table: a batch's read of many streams then became a sequential scan
            # of the whole table (3 s a batch at 12 million events). ANALYZE samples, so it takes
            # about a second at any size; done at 50 thousand events, then at each fourfold growth.
            with recorder.datastore.transaction(commit=True) as cursor:
                cursor.execute(self._events_sql("ANALYZE {events}"))
            self._analyze_at = self._copied * 4

    def read_log(self, start: int, limit: int, stop: int | None = None) -> list[tuple[int, str, bytes]]:
        """Notifications from `start` (at most `limit`, none after `stop`) as (id, topic, state).

        The library's select_notifications makes a Notification and a UUID per row, which was a
        fifth of a projection rebuild's time (bench/RESULTS.md); the projection needs only these.
        """
        recorder = self.recorder
        stop = (2**63 - 1) if stop is None else stop
        postgres = isinstance(recorder, PostgresApplicationRecorder)
        if postgres:
            statement: Any = self._events_sql(
                "SELECT notification_id, topic, state FROM {events} WHERE notification_id BETWEEN %s AND %s"
                " ORDER BY notification_id LIMIT %s")
        else:
            statement = (f"SELECT rowid, topic, state FROM {recorder.events_table_name} WHERE rowid BETWEEN ? AND ?"
                         " ORDER BY rowid LIMIT ?")
        with recorder.datastore.transaction(commit=False) as c:
            if postgres:
                from psycopg.rows import tuple_row

                # Tuples, not the library's dicts; binary, so the states come as they are stored
                # rather than hex-escaped (2.5 times faster to read).
                c = c.connection.cursor(row_factory=tuple_row, binary=True)
            else:
                c.row_factory = None  # plain tuples, not sqlite3.Row
            c.execute(statement, (start, stop, limit))
            return c.fetchall()

    def read_records(self, start: int, limit: int) -> list[tuple[int, bytes, int, str, bytes]]:
        """Stored events from notification id `start` on, at most `limit`, exactly as stored:
        (notification id, originator id's 16 bytes, originator version, topic, state). The verifiable log's
        leaves are made of these bytes (projections/tlog.py)."""
        return self._records("{id} >= %s ORDER BY {id} LIMIT %s", (start, limit))

    def _records(self, where: str, params: tuple[Any, ...]) -> list[tuple[int, bytes, int, str, bytes]]:
        """Stored events as the log's leaves take them; `where` names the notification id `{id}`
        and the originator id `{originator}`, with %s for each parameter."""
        recorder = self.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            from psycopg.rows import tuple_row

            # The id's 16 bytes straight from the server (uuid_send): no UUID object made per row.
            statement: Any = self._events_sql(
                "SELECT notification_id, uuid_send(originator_id), originator_version, topic, state"
                " FROM {events} WHERE " + where.format(id="notification_id", originator="originator_id"))
            with recorder.datastore.transaction(commit=False) as c:
                cursor = c.connection.cursor(row_factory=tuple_row, binary=True)
                cursor.execute(statement, params)
                return cursor.fetchall()
        condition = where.format(id="rowid", originator="originator_id").replace("%s", "?")
        with recorder.datastore.transaction(commit=False) as c:
            c.row_factory = None
            c.execute(f"SELECT rowid, originator_id, originator_version, topic, state FROM {recorder.events_table_name}"
                      f" WHERE {condition}", [p.hex if isinstance(p, UUID) else p for p in params])
            return [(n, bytes.fromhex(o), v, t, s) for n, o, v, t, s in c.fetchall()]

    def nth_position(self, n: int) -> int | None:
        """The notification id of the (n+1)-th stored event (a scan: for naming a place, not a loop)."""
        recorder = self.recorder
        if isinstance(recorder, PostgresApplicationRecorder):
            statement: Any = self._events_sql("SELECT notification_id FROM {events} ORDER BY notification_id"
                                              " LIMIT 1 OFFSET %s")
            with recorder.datastore.transaction(commit=False) as c:
                c.execute(statement, (n,))
                row = c.fetchone()
                return row["notification_id"] if row else None
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT rowid FROM {recorder.events_table_name} ORDER BY rowid LIMIT 1 OFFSET ?", (n,))
            row = c.fetchone()
            return row[0] if row else None

    def stream_records(self, originator_id: UUID) -> list[tuple[int, bytes, int, str, bytes]]:
        """One stream's stored events, as read_records gives them, in one query."""
        return self._records("{originator} = %s ORDER BY originator_version", (originator_id,))

    def construct_mapper(self) -> Mapper:
        return MsgspecMapper(
            transcoder=self.factory.transcoder(),
            compressor=self.factory.compressor(),
            cipher=self.factory.cipher(),
        )


# Any fixed number: the key of the advisory lock that serialises table creation.
_SCHEMA_LOCK = 4_711_2021


@contextmanager
def postgres_connection(env: dict[str, str], application_name: str = "ledger") -> Iterator[Any]:
    """A connection of its own in autocommit, outside the library's pool: for statements that
    must not run in a transaction (advisory locks held across it, VACUUM). `application_name` is
    what pg_stat_activity shows of it."""
    import psycopg

    with psycopg.connect(
        host=env["POSTGRES_HOST"], port=env["POSTGRES_PORT"], user=env["POSTGRES_USER"],
        password=env.get("POSTGRES_PASSWORD") or None, dbname=env["POSTGRES_DBNAME"], autocommit=True,
        connect_timeout=int(env.get("POSTGRES_CONNECT_TIMEOUT", "10")), application_name=application_name,
    ) as conn:
        yield conn


@contextmanager
def schema_lock(env: dict[str, str]) -> Iterator[None]:
    """On PostgreSQL, let one process at a time create tables.

    Two processes starting at once would run the library's CREATE TABLE IF NOT EXISTS
    concurrently, which PostgreSQL refuses ("tuple concurrently updated"); an advisory lock makes
    them take turns. SQLite needs nothing: its writers already take turns.
    """
    if env.get("PERSISTENCE_MODULE") != "eventsourcing.postgres":
        yield
        return
    with postgres_connection(env) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_SCHEMA_LOCK,))
        try:
            yield
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_SCHEMA_LOCK,))


def open_store(env: dict[str, str]) -> EventStore:
    """The store, its tables created if missing."""
    with schema_lock(env):
        return EventStore(env=env)


def storage_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The eventsourcing settings for LEDGER_DATABASE_URL or LEDGER_DB."""
    environ = dict(os.environ if environ is None else environ)
    url = environ.get("LEDGER_DATABASE_URL", "").strip()
    if url:
        return postgres_env(url, "LEDGER_DATABASE_URL", environ.get("LEDGER_DATABASE_SCHEMA"), environ)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.sqlite",
        "SQLITE_DBNAME": environ.get("LEDGER_DB", "ledger.db"),
        "SQLITE_LOCK_TIMEOUT": "30",
    }


def postgres_env(url: str, variable: str, schema: str | None, environ: dict[str, str]) -> dict[str, str]:
    """The eventsourcing settings of a postgresql:// URL given in `variable`."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("postgresql", "postgres"):
        raise InvalidInput(f"must start with postgresql://, got {parts.scheme or url!r}", variable, "database_url")
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_POOL_SIZE": environ.get("LEDGER_POOL_SIZE", "8"),
        "POSTGRES_MAX_OVERFLOW": "16",
        "POSTGRES_CONNECT_TIMEOUT": "10",
    }
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env
