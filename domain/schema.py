"""The version of the ledger's own tables in its database, and the steps from one to the next.

The events themselves never change shape in place (an event type only gains optional fields), and
the report projection remakes itself when its rows' shape is older than the code (viewstore.py).
What a release must change in the database is one numbered step per version (api/services/migrate.py
names them), each safe to run again: `ledger migrate` interrupted half-way is simply run again. A ledger opened by code
older than its database refuses to start, naming both versions, so no older release writes into a
shape it does not know.

Versions: 1, the events, the verifiable log's tables and the report projection (before versions
were recorded); 2, this table, console sessions kept in the database, and the access audit's reads.
"""

from __future__ import annotations

from collections.abc import Callable

from domain.dates import now
from domain.errors import Conflict
from domain.store import EventStore
from domain.tables import OwnTables

SCHEMA_VERSION = 2


class SchemaMismatch(Conflict):
    """The database's schema version is not the code's."""


class _Version(OwnTables):
    """Read without creating anything: a refused database is left exactly as it was."""

    def __init__(self, store: EventStore):
        super().__init__(store)
        self.table = self.prefix + "ledger_schema"

    def read(self) -> int | None:
        if self.postgres:
            exists = self.query("SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                                (self.datastore.schema or "public", "ledger_schema"))
        else:
            exists = self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_schema'")
        if not exists:
            return None
        rows = self.query(f"SELECT version FROM {self.table} WHERE one = 1")
        return int(rows[0][0]) if rows else None

    def stamp(self, version: int) -> None:
        self.create(f"CREATE TABLE IF NOT EXISTS {self.table} (one INTEGER PRIMARY KEY, version INTEGER NOT NULL,"
                    " migrated_at TEXT NOT NULL)")
        # One statement, so two processes stamping a new database at once both succeed.
        self.execute((f"INSERT INTO {self.table} (one, version, migrated_at) VALUES (1, ?, ?) ON CONFLICT (one)"
                      " DO UPDATE SET version = excluded.version, migrated_at = excluded.migrated_at",
                      (version, now().isoformat())))


def _current(store: EventStore, tables: _Version) -> int:
    """The database's version: as recorded; 1 for a ledger of the release before versions; a new,
    empty store is made at the code's."""
    version = tables.read()
    if version is None:
        version = 1 if store.recorder.max_notification_id() else SCHEMA_VERSION
        if version == SCHEMA_VERSION:
            tables.stamp(version)
    return version


def check(store: EventStore) -> None:
    """Refuse a database of another version than the code's, naming both."""
    version = _current(store, _Version(store))
    if version > SCHEMA_VERSION:
        raise SchemaMismatch(f"the database is at schema version {version}, newer than this release's"
                             f" {SCHEMA_VERSION}: run the release that made it (or a newer one); nothing was changed",
                             "schema", "schema_newer")
    if version < SCHEMA_VERSION:
        raise SchemaMismatch(f"the database is at schema version {version}, this release needs {SCHEMA_VERSION}:"
                             " back it up (`ledger backup`), then run `ledger migrate`", "schema", "schema_older")


def migrate(store: EventStore, steps: dict[int, Callable[[EventStore], None]]) -> tuple[int, int]:
    """Bring the database up to the code's version, step by step (`steps[v]` makes version v of
    v-1); (from, to)."""
    tables = _Version(store)
    start = _current(store, tables)
    if start > SCHEMA_VERSION:
        check(store)
    for version in range(start + 1, SCHEMA_VERSION + 1):
        steps[version](store)
        tables.stamp(version)  # after the step: an interruption before it runs the step again
    return start, SCHEMA_VERSION
