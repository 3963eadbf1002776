"""The ledger's write model: commands in, events out, one person per transaction.

A command loads the person's events, decides, and saves the new events in one transaction. Two
commands racing on one person both read version n; the second to commit finds version n+1 taken
(IntegrityError), nothing of it is written, and it runs again on the fresh state. Claims (an
idempotency key, a channel's transaction id) are one-event streams saved in the same transaction,
so a retried request can never post twice.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError, OperationalError

from domain import events as ev
from domain.actor import Actor
from domain.commands.elsewhere import SCHEMES, ElsewhereCommands
from domain.commands.enrollment import CANCEL_REASONS, COHORTS, DEPARTURES, EnrollmentCommands
from domain.commands.payment import CHANNELS, PaymentCommands
from domain.commands.registration import RegistrationCommands
from domain.dates import now
from domain.errors import OUTSIDE_SCOPE, Conflict, Forbidden, LedgerError, NotFound
from domain.groupcommit import GroupCommit
from domain.idnumber import mask, normalise_document
from domain.person import Person, claim_id, person_id
from domain.policy_load import install_from
from domain.queries import PersonQueries
from domain.schema import check as check_schema
from domain.store import open_store, storage_env
from domain.unit_of_work import AlreadyRecorded, Fen, PaymentResult, UnitOfWork

# What the rest of the product imports from here.
__all__ = ["CANCEL_REASONS", "CHANNELS", "COHORTS", "DEPARTURES", "SCHEMES", "Actor", "AlreadyRecorded", "Fen", "Ledger",
           "PaymentResult", "UnitOfWork"]
MAX_ATTEMPTS = 30

T = TypeVar("T")


class Ledger(RegistrationCommands, EnrollmentCommands, PaymentCommands, ElsewhereCommands, PersonQueries):
    """Commands and per-person queries over one event store: the commands, by what they are about,
    in domain/commands/, the queries in domain/queries.py; here, the unit of work that runs them."""

    def __init__(self, env: dict[str, str] | None = None, clock: Callable[[], datetime] = now):
        self.env = storage_env() if env is None else env
        self.store = open_store(self.env)
        check_schema(self.store)  # never write into a database of another release's shape
        install_from(self.store)  # the policies loaded into this ledger are in force in this process
        self.committer = GroupCommit(self._insert)
        self.clock = clock
        # A batch (a bulk load) and a deciding-only run belong to the thread that opened them: a
        # payment posted meanwhile by another thread (an API request beside an import) is
        # committed on its own, never inside a batch it knows nothing of.
        self._here = threading.local()

    @property
    def _batch(self) -> UnitOfWork | None:
        return getattr(self._here, "batch", None)

    @_batch.setter
    def _batch(self, uow: UnitOfWork | None) -> None:
        self._here.batch = uow

    def close(self) -> None:
        self.store.close()

    def _insert(self, events: list[ev.Event]) -> None:
        """Through the recorder, skipping the library's per-event Recording objects nobody reads."""
        self.store.insert_stored([self.store.mapper.to_stored_event(e) for e in events])

    # -- running commands ----------------------------------------------------------------------
    def _run(self, actor: Actor, decide: Callable[[UnitOfWork], T]) -> T:
        if self._batch is not None:
            uow = self._batch
            uow.actor = actor
            mark = uow.mark()
            try:
                result = decide(uow)
            except LedgerError:
                uow.rollback_to(mark)
                raise
            self._here.commands += 1
            if self._here.commands >= self._here.size:
                self.flush()
            return result
        deferred = getattr(self._here, "deferred", None)
        if deferred is not None:
            uow = UnitOfWork(self, actor, self._here.read_ahead)
            result = decide(uow)
            deferred.append(uow.pending)
            return result
        for attempt in range(MAX_ATTEMPTS):
            uow = UnitOfWork(self, actor)
            result = decide(uow)
            try:
                uow.commit()
                return result
            except (IntegrityError, OperationalError):
                # Another writer took the version (or held the lock): decide again on fresh state.
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise Conflict(
            "the person's record kept changing while this was recorded; nothing was written, try again",
            None,
            "concurrent_change",
        )

    @contextmanager
    def deciding_only(self, read_ahead: Iterable[UUID | None] = ()) -> Iterator[list[list[ev.Event]]]:
        """Commands run in this thread decide and return, but commit nothing: the events of each
        are added to the list given, for the caller to commit (several commands' together, as
        api/writer.py does) before it tells anyone the outcome. The streams `read_ahead` (those
        the commands will read) are read first, in one query."""
        units: list[list[ev.Event]] = []
        self._here.read_ahead = self.store.select_streams([i for i in dict.fromkeys(read_ahead) if i is not None])
        self._here.deferred = units
        try:
            yield units
        finally:
            self._here.deferred = None
            self._here.read_ahead = None

    @contextmanager
    def batch(self, size: int = 1000) -> Iterator[None]:
        """Commands inside share transactions of `size` commands (for bulk loads: demo, bench)."""
        self._batch, self._here.size, self._here.commands = UnitOfWork(self), size, 0
        try:
            yield
            self.flush()
        finally:
            self._batch = None

    def prefetch(
        self,
        people: list[tuple[str, str]],
        idempotency: list[tuple[str, str]] = (),
        transactions: list[str] = (),
    ) -> None:
        """Inside a batch: read these (document type, number) people, (point, key) claims and
        transaction ids at once. Numbers that do not parse are left for the command to refuse."""
        if self._batch is None:
            return
        pids = []
        for t, n in people:
            try:
                pids.append(person_id(t, normalise_document(t, n)))
            except LedgerError:
                continue
        self._batch.prefetch(
            pids,
            [claim_id("idempotency", point, key) for point, key in idempotency]
            + [claim_id("transaction", t.strip()) for t in transactions],
        )

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Inside a batch: several commands that stand or fall together (nothing kept on a refusal)."""
        if self._batch is None:
            raise RuntimeError("atomic() is for use inside batch()")
        mark = self._batch.mark()
        try:
            yield
        except LedgerError:
            self._batch.rollback_to(mark)
            raise

    def transaction_claim(self, transaction_id: str) -> ev.TransactionIdClaimed | None:
        """Who recorded this channel transaction id, if anyone (the current batch included)."""
        uow = self._batch or UnitOfWork(self)
        return uow.claim(claim_id("transaction", transaction_id.strip()))

    def flush(self) -> None:
        if self._batch is not None:
            self._batch.commit()
            self._batch.people.clear()
            self._batch.claims.clear()
            self._here.commands = 0

    # -- helpers ------------------------------------------------------------------------------
    @staticmethod
    def _pid(id_number: str, document_type: str) -> UUID:
        return person_id(document_type, normalise_document(document_type, id_number))

    def _registered(self, uow: UnitOfWork, id_number: str, document_type: str, *, writing: bool = True,
                    serving: bool = False) -> Person:
        """The registered person the command is about, if the actor may write for them (`serving`:
        enrollment and payment, which a policy may open to a wider area)."""
        person = uow.person(self._pid(id_number, document_type))
        if person.registration is None:
            raise NotFound(f"no person is registered with {document_type} {mask(id_number)}", "id_number",
                           "person_exists")
        allowed = uow.actor.may_serve if serving else uow.actor.may_touch
        if writing and not allowed(person.region):
            raise Forbidden(OUTSIDE_SCOPE, "id_number", "region_scope")
        return person


