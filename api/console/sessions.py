"""Console sessions: the API token stays on the server, the browser holds only a random session id.

Sessions are rows of the ledger's own database (console_sessions), so a restart signs nobody out
and several `ledger serve` processes behind one balancer share them. A row holds the SHA-256 of
the session id and of the token, never either itself: a copy of the table opens no session and
reveals no token. The token is checked again, uncached, on every request, so a token revoked with
`ledger token revoke` ends its sessions at once, in every process. A session unused for a working
day ends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from domain.store import EventStore
from domain.tables import OwnTables

COOKIE = "ledger_session"
LOGIN_COOKIE = "ledger_login"  # the sign-in form's CSRF pair, before any session exists
IDLE_SECONDS = 8 * 3600  # a working day
# How stale "last seen" may grow before a request writes it again: a page view is then a read.
SEEN_WRITE_SECONDS = 60


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Session:
    token_hash: str  # the token's SHA-256, as the token's own events carry it
    csrf: str


class Sessions(OwnTables):
    def __init__(self, store: EventStore, clock=time.time):
        super().__init__(store)
        self.clock = clock
        self.table = self.prefix + "console_sessions"
        real = "double precision" if self.postgres else "REAL"
        self.create(f"CREATE TABLE IF NOT EXISTS {self.table} (sid_hash TEXT PRIMARY KEY, token_hash TEXT NOT NULL,"
                    f" csrf TEXT NOT NULL, seen {real} NOT NULL)")

    def open(self, token: str) -> str:
        sid = secrets.token_urlsafe(32)
        now = self.clock()
        self.execute((f"DELETE FROM {self.table} WHERE seen < ?", (now - IDLE_SECONDS,)),
                     (f"INSERT INTO {self.table} (sid_hash, token_hash, csrf, seen) VALUES (?, ?, ?, ?)",
                      (_hash(sid), _hash(token), secrets.token_urlsafe(32), now)))
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        key = _hash(sid)
        rows = self.query(f"SELECT token_hash, csrf, seen FROM {self.table} WHERE sid_hash = ?", (key,))
        if not rows:
            return None
        token_hash, csrf, seen = rows[0]
        now = self.clock()
        if now - float(seen) > IDLE_SECONDS:
            self.close(sid)
            return None
        if now - float(seen) > SEEN_WRITE_SECONDS:
            self.execute((f"UPDATE {self.table} SET seen = ? WHERE sid_hash = ?", (now, key)))
        return Session(str(token_hash), str(csrf))

    def close(self, sid: str | None) -> None:
        if sid:
            self.execute((f"DELETE FROM {self.table} WHERE sid_hash = ?", (_hash(sid),)))


def same(a: str | None, b: str | None) -> bool:
    """Two CSRF values equal, compared in constant time; a missing one never matches."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
