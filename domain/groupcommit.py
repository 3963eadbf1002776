"""Group commit: concurrent commands share one transaction, so one fsync serves many payments.

Each caller hands in its events and waits. The first caller to arrive while no one is writing
becomes the leader: it writes everything queued so far in one transaction, then passes the lead
to the next waiter, if any. Nobody returns before their own events are committed. If the shared
transaction fails (two commands raced on one person, a claimed key), the group is written again
one unit at a time, so only the unit that conflicts gets the error, and its caller decides again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError


class _Unit:
    __slots__ = ("events", "done", "lead", "error")

    def __init__(self, events: Sequence[Any]):
        self.events = events
        self.done = threading.Event()
        self.lead = False
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self, write: Callable[[Sequence[Any]], object]):
        self._write = write
        self._lock = threading.Lock()
        self._queue: list[_Unit] = []
        self._leading = False
        # Told the size of each transaction written (the monitoring's batch sizes).
        self.on_batch: Callable[[int], object] | None = None

    def commit(self, events: Sequence[Any]) -> None:
        error = self.commit_each([events])[0]
        if error is not None:
            raise error

    def commit_each(self, units: Sequence[Sequence[Any]]) -> list[BaseException | None]:
        """Commit several units, each whole or not at all, in the same group: what each unit's
        commit raised, or None. They are queued together, so whoever writes the queue writes them all."""
        if not any(units):
            return [None] * len(units)  # nothing to write: no transaction
        queued = [_Unit(events) for events in units]
        with self._lock:
            self._queue.extend(queued)
            lead = not self._leading
            self._leading = True
        if not lead:
            first = queued[0]
            first.done.wait()
            if not first.lead:
                return [unit.error for unit in queued]  # written by another's group, every one done
        self._lead()
        return [unit.error for unit in queued]

    def _lead(self) -> None:
        with self._lock:
            group, self._queue = self._queue, []
        try:
            self._write_group(group)
        finally:
            with self._lock:
                if self._queue:
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._leading = False

    def _write_group(self, group: list[_Unit]) -> None:
        try:
            events = [e for unit in group for e in unit.events]
            self._write(events)
            if self.on_batch is not None:
                self.on_batch(len(events))
        except (IntegrityError, OperationalError) as shared_error:
            if len(group) == 1:
                group[0].error = shared_error
            else:
                for unit in group:
                    try:
                        self._write(unit.events)
                    except (IntegrityError, OperationalError) as e:
                        unit.error = e
        except BaseException as e:  # noqa: BLE001 - every waiter must hear of it
            for unit in group:
                unit.error = e
        for unit in group:
            if not unit.lead:
                unit.done.set()
