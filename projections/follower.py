"""The report projection follows the event log: it reads notifications after its position, in
batches, recomputes the rows of every person the batch touched, and commits their rows with the
new position in one transaction (projections/viewstore.py).

A person's rows are a pure function of their events (projections/rows.py), so applying a batch
replaces that person's rows rather than adding to them: a batch retried after a crash, or applied
by a second follower that lost the race, can neither lose nor double-count anything.

eventsourcing's SQLite recorder cannot subscribe to new events, so the follower pulls with
select_notifications, on both backends alike (DESIGN.md).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain import events as ev
from domain.store import EventStore
from projections.rows import PERSON_EVENTS, Row, person_rows
from projections.viewstore import NAME, ViewStore

BATCH = 20_000  # notifications per transaction: big enough that most persons are folded once


@dataclass
class Status:
    position: int  # the last notification applied
    head: int  # the last notification in the ledger
    rows: dict[str, int] | None = None

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


class Follower:
    def __init__(self, store: EventStore, views: ViewStore, batch: int = BATCH):
        self.store, self.views, self.batch = store, views, batch

    def head(self) -> int:
        return self.store.recorder.max_notification_id() or 0

    def status(self, rows: bool = False) -> Status:
        return Status(self.views.position(), self.head(), self.views.counts() if rows else None)

    def step(self) -> int:
        """Apply one batch after the current position; the number of notifications applied."""
        start = self.views.position() + 1
        notifications = self.store.recorder.select_notifications(start=start, limit=self.batch)
        if not notifications:
            return 0
        batch: dict[UUID, list[ev.Event]] = {}
        for n in notifications:
            e = self.store.mapper.to_domain_event(n)
            if isinstance(e, PERSON_EVENTS):
                batch.setdefault(e.originator_id, []).append(e)
        # A person whose stream began before this batch: read the earlier events, up to what the
        # batch holds (later versions belong to later notifications, so to later batches).
        earlier = [pid for pid, es in batch.items() if es[0].originator_version > 1]
        for pid, events in self.store.select_streams(earlier).items():
            last = batch[pid][-1].originator_version
            batch[pid] = [e for e in events if e.originator_version <= last]
        rows: dict[UUID, list[Row]] = {pid: person_rows(pid, es) for pid, es in batch.items()}
        try:
            self.views.apply(earlier, rows, notifications[-1].id)
        except IntegrityError:
            return 0  # another follower applied this batch first: nothing lost, nothing twice
        return len(notifications)

    def catch_up(self, progress: Callable[[int], None] | None = None, stop: threading.Event | None = None) -> int:
        """Apply batches until the position reaches the head of the log; notifications applied."""
        applied = 0
        while not (stop and stop.is_set()):
            n = self.step()
            if n == 0 and self.views.position() >= self.head():
                break
            applied += n
            if progress:
                progress(n)
        return applied

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """From zero: clear rows and position together, then catch up."""
        self.views.clear()
        return self.catch_up(progress)

    def wait(self, position: int, timeout: float) -> bool:
        """Block until the projection has applied `position` (the library's polling wait)."""
        try:
            self.views.recorder.wait(NAME, position, timeout=timeout)
        except TimeoutError:
            return False
        return True


class Background:
    """A follower thread that keeps the projection caught up (inside `ledger serve`)."""

    def __init__(self, follower: Follower, interval: float = 0.2):
        self.follower, self.interval = follower, interval
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="projection-follower", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def _run(self) -> None:
        import logging

        log = logging.getLogger("ledger.projection")
        while not self.stopping.is_set():
            try:
                self.follower.catch_up(stop=self.stopping)
                self.error = None
            except Exception as exc:  # the follower must outlive a dropped connection; say why and retry
                if self.error is None:
                    log.exception("the report projection could not catch up; retrying")
                self.error = exc
            self.stopping.wait(self.interval)
