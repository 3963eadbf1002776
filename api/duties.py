"""Work a served ledger does in the background, done by one process per database.

`ledger serve --workers N` runs N processes over one PostgreSQL database, and a bureau may run
`ledger projections run` beside them. Each background duty (keeping the report projection caught
up, keeping the verifiable log's tree and signing its checkpoints) is held by whichever process
takes its PostgreSQL advisory lock first; the others wait, and one of them takes it over when the
holder stops or dies (the server drops a dead session's locks). On SQLite there is one process,
which does every duty itself.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from domain.store import postgres_connection

log = logging.getLogger("ledger.duties")

# Advisory lock keys: any fixed numbers, one per duty, paired with the schema's hash (several
# ledgers may share a database, each in its own schema).
PROJECTION = 4_711_2022
VERIFIABLE_LOG = 4_711_2023
# How often a waiting process tries for the lock, and a holder checks its session still holds it.
RETRY_SECONDS = 2.0


def on_postgres(env: dict[str, str]) -> bool:
    return env.get("PERSISTENCE_MODULE") == "eventsourcing.postgres"


def _try_lock(conn: object, env: dict[str, str], key: int) -> bool:
    return conn.execute("SELECT pg_try_advisory_lock(%s::int4, hashtext(%s))",  # type: ignore[attr-defined]
                        (key, env.get("POSTGRES_SCHEMA") or "public")).fetchone()[0]


class Duty:
    """`work(stop)` run in a thread of this process while it holds the duty's lock."""

    def __init__(self, name: str, key: int, env: dict[str, str], work: Callable[[threading.Event], None]):
        self.name, self.key, self.env, self.work = name, key, env, work
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self, timeout: float = 30) -> None:
        self.stopping.set()
        self.thread.join(timeout)

    def _run(self) -> None:
        if not on_postgres(self.env):
            self._hold(lambda: None)
            return
        while not self.stopping.is_set():
            try:
                # Named so that an operator sees in pg_stat_activity which process does the duty.
                with postgres_connection(self.env, f"ledger {self.name} pid {os.getpid()}") as conn:
                    if _try_lock(conn, self.env, self.key):
                        # The lock lives as long as this session: checked, it tells a lost connection.
                        self._hold(lambda: conn.execute("SELECT 1"))
            except Exception:  # noqa: BLE001 - a database away for a moment: try again, say so once
                log.exception("%s: could not take or keep the duty; trying again", self.name)
            self.stopping.wait(RETRY_SECONDS)

    def _hold(self, still_held: Callable[[], object]) -> None:
        """Do the work until told to stop or the lock is lost."""
        done = threading.Event()
        worker = threading.Thread(target=self.work, args=(done,), name=f"{self.name}-work", daemon=True)
        log.info("%s: this process does it", self.name)
        worker.start()
        try:
            while not self.stopping.wait(RETRY_SECONDS):
                still_held()
        finally:
            done.set()
            worker.join(30)


@contextmanager
def held_lock(env: dict[str, str], key: int, stop: threading.Event, waiting: Callable[[], None]) -> Iterator[bool]:
    """For a process whose one job is a duty (`ledger projections run`): the duty's lock held for the
    block (True), taken once it is free (`waiting` told once if it is not yet), or False if `stop`
    came first."""
    if not on_postgres(env):
        yield True
        return
    with postgres_connection(env, f"ledger duty pid {os.getpid()}") as conn:
        told = False
        while not _try_lock(conn, env, key):
            if not told:
                waiting()
                told = True
            if stop.wait(RETRY_SECONDS):
                yield False
                return
        yield True
