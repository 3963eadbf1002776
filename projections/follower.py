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

import gc
import logging
import marshal
import multiprocessing
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from eventsourcing.sqlite import SQLiteApplicationRecorder

from domain import events as ev
from domain.policy_load import POLICY_TOPIC, install_from
from domain.store import EventStore, open_store, topic_of
from projections.rows import PERSON_EVENTS, Row, person_rows
from projections.viewstore import ViewStore, flatten

log = logging.getLogger("ledger.projection")
BATCH = 20_000  # notifications per transaction: big enough that most persons are folded once
PARALLEL_FROM = 200_000  # a smaller log rebuilds faster than worker processes start
AHEAD = 12  # ranges handed to each worker of a parallel rebuild before the first is written (see _parallel)
VACUUM_AFTER = 100_000  # events applied in one catch-up after which PostgreSQL's rows are vacuumed
PERSON_TOPICS = frozenset(topic_of(cls) for cls in PERSON_EVENTS)  # the others are not decoded at all


_worker: EventStore | None = None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Folding a batch makes hundreds of thousands of small objects, none of them in a cycle, so
    reference counting frees them all; the cycle collector's passes over them took a fifth of the
    folding time (3.87 s against 3.06 s for 200,000 events). It runs again afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _open_worker(env: dict[str, str]) -> None:
    global _worker
    _worker = open_store(env)
    install_from(_worker)  # the policies loaded into the ledger, as the parent has them
    # A worker lives for one rebuild, and folding makes next to no reference cycles (a collection
    # after 200,000 events found 56 objects to free). Left on, the collector traversed each
    # range's results once more as they were returned: 16 ms a range, a tenth of a worker's time.
    gc.disable()


def _range_rows(span: tuple[int, int]) -> bytes:
    """In a worker: the rows of notifications start..stop, as table values, marshalled (see
    _unmarshal_range)."""
    assert _worker is not None
    start, stop = span
    records = _worker.read_log(start, stop - start + 1, stop)
    earlier, rows = batch_rows(_worker, records)
    postgres = not isinstance(_worker.recorder, SQLiteApplicationRecorder)
    # marshal, not the pool's pickle: the values are tuples of ints, strings and bytes, which it
    # writes and reads a quarter faster (0.85 against 1.1 µs a row, both ways).
    return marshal.dumps(([p.bytes for p in earlier], *flatten(rows, postgres, stop), stop, len(records)))


def _unmarshal_range(data: bytes) -> tuple[list[UUID], list[tuple], list[tuple], int, int]:
    """A range from a worker: the persons whose earlier rows it replaces, the two tables' values,
    its last notification and how many it read."""
    earlier, person_values, payment_values, stop, n = marshal.loads(data)
    return [UUID(bytes=p) for p in earlier], person_values, payment_values, stop, n


@dataclass
class Status:
    position: int  # the last notification applied
    head: int  # the last notification in the ledger
    rows: dict[str, int] | None = None

    @property
    def lag(self) -> int:
        return max(self.head - self.position, 0)


def batch_rows(store: EventStore, records: Sequence[tuple[int, str, bytes]],
               views: ViewStore | None = None) -> tuple[list[UUID], dict[UUID, list[Row]]]:
    """The rows of every person these notifications (id, topic, state) touch, and those whose
    stream began before them (their stored rows are to be replaced). A policy version loaded in
    the batch is put in force here, and the persons with rows under its region and year (and
    later years, whose waiting periods read it) are computed again (`views`: where to find them)."""
    batch: dict[UUID, list[ev.Event]] = {}
    decode = store.mapper.decode
    if any(topic == POLICY_TOPIC for _, topic, _ in records):
        install_from(store)
        if views is not None:
            for _, topic, state in records:
                if topic == POLICY_TOPIC:
                    loaded = decode(topic, state)
                    region, year = loaded.policy_id.rsplit("-", 1)
                    for pid in views.persons_in(region, int(year)):
                        batch.setdefault(pid, [])
    for position, topic, state in records:
        if topic in PERSON_TOPICS:
            try:
                e = decode(topic, state)
            except Exception:  # noqa: BLE001 - one unreadable event must not stop every report
                log.exception("event at position %s cannot be read; it is left out of the reports", position)
                continue
            batch.setdefault(e.originator_id, []).append(e)
    # A person whose stream began before this batch: read the earlier events, up to what the
    # batch holds (later versions belong to later notifications, so to later batches).
    earlier = [pid for pid, es in batch.items() if not es or es[0].originator_version > 1]
    for pid, events in store.select_streams(earlier).items():
        last = batch[pid][-1].originator_version if batch[pid] else None  # None: a policy load's, all of it
        batch[pid] = [e for e in events if last is None or e.originator_version <= last]
    return earlier, {pid: _rows_or_report(pid, es) for pid, es in batch.items()}


def _rows_or_report(pid: UUID, events: list[ev.Event]) -> list[Row]:
    """A person whose events cannot be folded is reported in the log and left out of the reports
    (their events stay in the ledger, untouched); the others are projected."""
    try:
        return person_rows(pid, events)
    except Exception:  # noqa: BLE001
        log.exception("person %s (events %s..%s) cannot be projected; left out of the reports", pid,
                      events[0].originator_version if events else "-", events[-1].originator_version if events else "-")
        return []


class Follower:
    def __init__(self, store: EventStore, views: ViewStore, batch: int = BATCH, env: dict[str, str] | None = None):
        """`env`: the store's settings, for worker processes of a parallel rebuild (none: no workers)."""
        self.store, self.views, self.batch, self.env = store, views, batch, env
        self._followed_to: int | None = None  # the last notification this follower itself read

    def head(self) -> int:
        return self.store.recorder.max_notification_id() or 0

    def status(self, rows: bool = False) -> Status:
        return Status(self.views.position(), self.head(), self.views.counts() if rows else None)

    def step(self) -> int:
        """Apply one batch after the current position; the number of notifications applied."""
        start = self.views.position() + 1
        records = self.store.read_log(start, self.batch)
        if not records:
            return 0
        if self._followed_to is None or start != self._followed_to + 1:
            # Another process applied what lies between (a second follower, a report's catch-up):
            # a policy loaded there is put in force here before this batch is folded.
            install_from(self.store)
        self._followed_to = records[-1][0]
        with gc_paused():
            earlier, rows = batch_rows(self.store, records, self.views)
        try:
            self.views.apply(earlier, rows, records[-1][0], start)
        except IntegrityError:
            return 0  # another follower applied this batch first: nothing lost, nothing twice
        return len(records)

    def catch_up(self, progress: Callable[[int], None] | None = None, stop: threading.Event | None = None,
                 tidy: bool = True) -> int:
        """Apply batches until the position reaches the head of the log; notifications applied.
        `tidy`: vacuum (and reindex) after a long catch-up; not inside a rebuild, which does."""
        applied = 0
        while not (stop and stop.is_set()):
            n = self.step()
            if n == 0 and self.views.position() >= self.head():
                break
            applied += n
            if progress:
                progress(n)
        if tidy and applied >= VACUUM_AFTER:
            self.views.vacuum(reindex=True)
        if tidy and not (stop and stop.is_set()) and not self.views.totals_ready():
            self.views.recompute_totals()  # a new store, an upgrade, or a policy naming a new region
        return applied

    def rebuild(self, progress: Callable[[int], None] | None = None, workers: int | None = None) -> int:
        """From zero: clear rows and position together, then catch up. A large log is folded by
        `workers` processes (default: one per core), each taking a range of notifications, while
        this one writes their rows in order, each range with its position: killed part-way, the
        next catch-up resumes after the last range written."""
        head = self.head()
        workers = (os.cpu_count() or 1) if workers is None else workers
        applied = 0
        if workers > 1 and head >= PARALLEL_FROM and self.env is not None:
            applied = self._parallel(head, workers, progress)  # which clears, once the workers have started
            # All the indexes at once (side by side on PostgreSQL); then the replaced rows go
            # through the person index, and what was recorded meanwhile is added row by row.
            self.views.index()
            self.views.settle()
            applied += self.catch_up(progress, tidy=False)
        else:
            self.views.clear(drop_indexes=True)
            applied += self.catch_up(progress, tidy=False)
            self.views.index()
        self.views.recompute_totals()
        self.views.vacuum()
        return applied

    def _parallel(self, head: int, workers: int, progress: Callable[[int], None] | None) -> int:
        ranges = iter([(start, min(start + self.batch - 1, head)) for start in range(1, head + 1, self.batch)])
        applied = 0
        context = multiprocessing.get_context("spawn")  # no copy of this process's pools and threads
        with context.Pool(workers, initializer=_open_worker, initargs=(self.env,)) as pool, gc_paused():
            # AHEAD ranges per worker: clearing the old rows reads and frees every page they held
            # (1-4.6 s at full scale on SQLite) while the workers start and fold the first ranges.
            # With four each, they had folded theirs and waited (rebuild 25.5 s against 23.4 s
            # with twelve); the finished ranges waiting meanwhile cost this process 110 MB.
            pending = deque(pool.apply_async(_range_rows, (span,)) for span in islice(ranges, AHEAD * workers))
            self.views.clear(drop_indexes=True)
            while pending:
                earlier, person_values, payment_values, stop, n = _unmarshal_range(pending.popleft().get())
                following = next(ranges, None)
                if following is not None:
                    pending.append(pool.apply_async(_range_rows, (following,)))
                self.views.apply_values(earlier, person_values, payment_values, stop, deferred=True)
                applied += n
                if progress:
                    progress(n)
        return applied


def keep_caught_up(follower: Follower, stop: threading.Event, interval: float = 0.2) -> None:
    """Keep the projection caught up until `stop` (the duty of one process of `ledger serve`)."""
    failing = False
    while not stop.is_set():
        try:
            follower.catch_up(stop=stop)
            failing = False
        except Exception:  # the follower must outlive a dropped connection; say why and retry
            if not failing:
                log.exception("the report projection could not catch up; retrying")
            failing = True
        stop.wait(interval)
