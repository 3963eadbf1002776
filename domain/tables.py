"""Tables of the ledger's own beside the events (the log's tree, console sessions), in the ledger's
database: the same SQLite file, or the same PostgreSQL schema. Statements are written with `?`
placeholders and unqualified names prefixed `{s}`; this class puts each backend's in."""

from __future__ import annotations

from typing import Any

from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg.sql import SQL, Identifier

from domain.store import EventStore, schema_lock


class OwnTables:
    def __init__(self, store: EventStore):
        self.recorder = store.recorder
        self.store_env = store.env
        self.datastore = self.recorder.datastore
        self.postgres = isinstance(store.recorder, PostgresApplicationRecorder)
        if self.postgres:
            self.prefix = Identifier(self.datastore.schema).as_string() + "."
            self.p = "%s"
        else:
            self.prefix, self.p = "", "?"

    def _sql(self, statement: str) -> Any:
        return SQL(statement) if self.postgres else statement  # type: ignore[arg-type]

    def query(self, statement: str, params: tuple = ()) -> list[tuple]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(statement.replace("?", self.p)), params)
            rows = c.fetchall()
        return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in rows]

    def create(self, *statements: str) -> None:
        """Tables and indexes made if missing, one process at a time on PostgreSQL (two processes
        starting at once would run CREATE … IF NOT EXISTS together, which PostgreSQL refuses)."""
        with schema_lock(dict(self.store_env)):
            self.execute(*((s, ()) for s in statements))

    def execute(self, *statements: tuple[str, tuple]) -> None:
        """Run the statements in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            for statement, params in statements:
                c.execute(self._sql(statement.replace("?", self.p)), params)
