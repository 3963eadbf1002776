"""The payment writer: one thread that records the payments of many requests together.

On the last day of a collection window every collection point posts at once. Each request's
payment is decided on this thread, the events of all the requests waiting are committed in one
transaction (the ledger's group commit, shared with the other commands), and only then is each
request answered: an answer is never given for a payment not yet durable. A payment that lost a
race (another payment to the same person in the group, or another process) is decided again on
its own, as any command is.

One thread rather than one thread of the pool per request: the requests' event loop hands each
payment over without waking a pool thread, and the deciding does not contend for the interpreter
with dozens of threads (bench/RESULTS.md, payments against a bare endpoint).
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError, OperationalError

from domain.ledger import Ledger

T = TypeVar("T")
# A command, the streams it reads, and where its outcome goes.
Job = tuple[Callable[[], Any], Sequence["UUID | None"], "asyncio.Future[Any]", asyncio.AbstractEventLoop]
MOST = 256  # payments decided and committed together, at most
_STOP = object()


class Writer:
    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    async def run(self, command: Callable[[], T], reads: Sequence[UUID | None] = ()) -> T:
        """Run a ledger command (one that commits through the ledger's unit of work) on the
        writer's thread; its outcome once its events are committed. `reads`: the streams it will
        read, read ahead with those of the other commands waiting, in one query."""
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[T] = loop.create_future()
        self._start()
        self._queue.put((command, reads, outcome, loop))
        return await outcome

    def close(self, wait: float = 30) -> None:
        """Finish what is queued, then stop (waiting at most `wait` seconds: a payment still
        unanswered then was never acknowledged, committed or not, and its retry settles it)."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(_STOP)
            thread.join(wait)

    def _start(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._serve, name="payment-writer", daemon=True)
                    self._thread.start()

    def _serve(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs, stop = [first], False
            while len(jobs) < MOST:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is _STOP:
                    stop = True
                    break
                jobs.append(job)
            try:
                self._write(jobs)
            except BaseException as e:  # noqa: BLE001 - the thread outlives any one group; its requests hear why
                for _, _, future, loop in jobs:
                    _tell(loop, future, False, e)
            if stop:
                return

    def _write(self, jobs: list[Job]) -> None:
        try:
            outcomes, units = self._decide(jobs)
        except BaseException as e:  # noqa: BLE001 - the store could not be read: every request hears of it
            outcomes, units = [(False, e)] * len(jobs), [[] for _ in jobs]
        written = [i for i, events in enumerate(units) if events]
        try:
            errors = self.ledger.committer.commit_each([units[i] for i in written])
        except BaseException as e:  # noqa: BLE001 - no request waits for ever
            errors = [e] * len(written)
        for i, error in zip(written, errors):
            if isinstance(error, (IntegrityError, OperationalError)):
                # Decided on a person another payment changed first: decide again, alone.
                try:
                    outcomes[i] = (True, jobs[i][0]())
                except BaseException as e:  # noqa: BLE001
                    outcomes[i] = (False, e)
            elif error is not None:
                outcomes[i] = (False, error)
        for (_, _, future, loop), (ok, value) in zip(jobs, outcomes):
            _tell(loop, future, ok, value)

    def _decide(self, jobs: list[Job]) -> tuple[list[tuple[bool, Any]], list[list[Any]]]:
        """Each job's outcome (or what it raised) and the events it decided, nothing committed."""
        outcomes: list[tuple[bool, Any]] = []
        units: list[list[Any]] = []
        with self.ledger.deciding_only(read_ahead=[r for _, reads, _, _ in jobs for r in reads]) as decided:
            for command, _, _, _ in jobs:
                start = len(decided)
                try:
                    outcomes.append((True, command()))
                    units.append([e for unit in decided[start:] for e in unit])
                except BaseException as e:  # noqa: BLE001 - the request hears of it, the others go on
                    outcomes.append((False, e))
                    units.append([])
        return outcomes, units


def _tell(loop: asyncio.AbstractEventLoop, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    """Hand the outcome to the request's own event loop."""
    try:
        loop.call_soon_threadsafe(_settle, future, ok, value)
    except RuntimeError:
        pass  # that loop has closed: nobody is waiting for this answer


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.cancelled():
        return  # the client went away; a retry with its key finds the payment
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
