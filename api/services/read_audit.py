"""Who read what (等保 access audit): every read of a person's data and every report served, with the
token's name and role, the time, what was asked (an identity number masked) and the client's address.

Rows of the ledger's own database (read_audit), not events: reads outnumber writes by far, and a
read changes nothing of the ledger's history. They are written in batches, so a read does not wait
for a disk flush of its own: a batch goes when it holds BATCH rows or is FLUSH_SECONDS old, when an
auditor asks, and when the process stops; a process killed outright loses at most that batch.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from domain.store import EventStore
from domain.tables import OwnTables

if TYPE_CHECKING:
    from api.auth import Caller

BATCH = 200
FLUSH_SECONDS = 1.0
COLUMNS = ("at", "token", "role", "what", "subject", "region", "client")


@dataclass(frozen=True)
class Read:
    at: str
    token: str
    role: str
    what: str  # coverage, history, history_with_proofs, person_page, report:<kind>
    subject: str  # the person (masked) or the report's question
    region: str  # the person's village or the report's region: what scopes the row
    client: str


def _stored(moment: datetime) -> str:
    """A moment as the rows hold it: UTC, to the microsecond, so that text order is time order."""
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


class ReadAudit(OwnTables):
    def __init__(self, store: EventStore):
        super().__init__(store)
        self.table = self.prefix + "read_audit"
        self.create(f"CREATE TABLE IF NOT EXISTS {self.table} (at TEXT NOT NULL, token TEXT NOT NULL,"
                    " role TEXT NOT NULL, what TEXT NOT NULL, subject TEXT NOT NULL, region TEXT NOT NULL,"
                    " client TEXT NOT NULL)",
                    f"CREATE INDEX IF NOT EXISTS read_audit_at ON {self.table} (at)")
        self._pending: list[Read] = []
        self._since = time.monotonic()
        self._lock = threading.Lock()

    def record(self, who: Caller, what: str, subject: str, region: str, client: str | None) -> None:
        read = Read(_stored(datetime.now(timezone.utc)), who.name, who.role, what, subject, region, client or "")
        with self._lock:
            self._pending.append(read)
            due = len(self._pending) >= BATCH or time.monotonic() - self._since >= FLUSH_SECONDS
        if due:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._pending, self._since = self._pending, [], time.monotonic()
        if batch:
            placeholders = ", ".join("?" * len(COLUMNS))
            self.execute(*((f"INSERT INTO {self.table} ({', '.join(COLUMNS)}) VALUES ({placeholders})",
                            tuple(getattr(r, c) for c in COLUMNS)) for r in batch))

    def reads(self, regions: tuple[str, ...], since: datetime | None = None, until: datetime | None = None,
              token: str | None = None, limit: int = 1000) -> list[dict[str, str]]:
        """The reads, newest first; a reader limited to regions sees the reads within them only."""
        self.flush()
        where, params = ["1 = 1"], []
        if since:
            where.append("at >= ?")
            params.append(_stored(since))
        if until:
            where.append("at <= ?")
            params.append(_stored(until))
        if token:
            where.append("token = ?")
            params.append(token)
        if regions:
            where.append("(" + " OR ".join("region LIKE ?" for _ in regions) + ")")
            params.extend(f"{r}%" for r in regions)
        rows = self.query(f"SELECT {', '.join(COLUMNS)} FROM {self.table} WHERE {' AND '.join(where)}"
                          f" ORDER BY at DESC LIMIT {int(limit)}", tuple(params))
        return [dict(zip(COLUMNS, map(str, row))) for row in rows]


def report_question(year: int, as_of: object, known_at: object, fmt: str) -> str:
    """What a report read asked, as the audit row's subject."""
    return f"year {year} as of {as_of or 'today'} known at {known_at or 'now'} as {fmt}"
