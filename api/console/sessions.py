"""Console sessions: the API token stays on the server, the browser holds only a random session id.

The token is checked again on every request, so a token revoked with `ledger token revoke` ends its
sessions at once. Sessions live in the process: a restart signs everyone out, which is what a
bureau's staff expect of a screen on a shared office PC.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

COOKIE = "ledger_session"
LOGIN_COOKIE = "ledger_login"  # the sign-in form's CSRF pair, before any session exists
IDLE_SECONDS = 8 * 3600  # a working day


@dataclass
class Session:
    token: str
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    seen: float = field(default_factory=time.monotonic)


class Sessions:
    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    def open(self, token: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._by_id[sid] = Session(token)
        return sid

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            now = time.monotonic()
            if now - session.seen > IDLE_SECONDS:
                del self._by_id[sid]
                return None
            session.seen = now
            return session

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)


def same(a: str | None, b: str | None) -> bool:
    """Two CSRF values equal, compared in constant time; a missing one never matches."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
