"""`ledger migrate`: the steps that make each schema version of the ledger's database (domain/schema.py)."""

from __future__ import annotations

from collections.abc import Callable

from api.console.sessions import Sessions
from api.services.read_audit import ReadAudit
from domain.schema import migrate as run
from domain.store import EventStore, open_store


def _sessions_and_reads(store: EventStore) -> None:
    Sessions(store)  # each creates its table where it is missing
    ReadAudit(store)


STEPS: dict[int, Callable[[EventStore], None]] = {2: _sessions_and_reads}


def migrate(env: dict[str, str]) -> tuple[int, int]:
    """Opened without the version check a ledger makes, which would refuse the older database."""
    store = open_store(env)
    try:
        return run(store, STEPS)
    finally:
        store.close()
