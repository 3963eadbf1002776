"""The unit of work a command runs in: the persons and claims it read, the events it decided, saved
together or not at all; and what a payment command answers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from domain import events as ev
from domain.actor import Actor
from domain.coverage import CoverageView
from domain.errors import Conflict
from domain.person import Person, fold
from domain.store import EventStore


class AlreadyRecorded(Conflict):
    """The channel's transaction id was posted before (as payment `payment_id`)."""

    def __init__(self, message: str, payment_id: str, person_id: UUID):
        super().__init__(message, "transaction_id", "transaction_id_unique")
        self.payment_id = payment_id
        self.person_id = person_id


@dataclass(frozen=True, slots=True)
class Fen:
    """An amount already parsed and checked (integer fen), passed on without parsing it again."""

    fen: int


@dataclass(frozen=True)
class PaymentResult:
    payment_id: str
    person_id: UUID
    person_version: int
    replayed: bool
    view: CoverageView | None = None  # the enrollment right after the payment (not on a replay)


class Storing(Protocol):
    """What a unit of work uses of the ledger (domain/ledger.py): its store, clock and committer."""

    store: EventStore
    committer: Any
    clock: Callable[[], datetime]


class UnitOfWork:
    """The events decided by one command (or one batch of commands), saved in one transaction."""

    def __init__(self, ledger: Storing, actor: Actor | None = None, read_ahead: dict[UUID, list[Any]] | None = None):
        self.ledger = ledger
        self.actor = actor or Actor("?", "?")
        self.pending: list[ev.Event] = []
        self.people: dict[UUID, Person] = {}
        self.claims: dict[UUID, ev.Event] = {}
        # Streams read for several commands at once, before any of them decided: as the store
        # held them then (a command deciding on a stream another changed first fails at commit).
        self.read_ahead = read_ahead or {}

    def person(self, pid: UUID) -> Person:
        person = self.people.get(pid)
        if person is None:
            # Anyone with pending events is in self.people (emit keeps them there), so the
            # stored stream is the whole of a person not yet loaded.
            person = fold(pid, self.ledger.store.events.get(pid))
            self.people[pid] = person
        return person

    def prefetch(self, pids: list[UUID], cids: list[UUID]) -> None:
        """Load many people and claims in one query before a run of batched commands."""
        claim_ids = set(cids)
        wanted = [i for i in {*pids, *claim_ids} if i not in self.people and i not in self.claims]
        found = {i: self.read_ahead[i] for i in wanted if i in self.read_ahead}
        found.update(self.ledger.store.select_streams([i for i in wanted if i not in found]))
        for i, events in found.items():
            if i in claim_ids:
                self.claims[i] = events[0] if events else None
            else:
                self.people[i] = fold(i, events)

    def claim(self, cid: UUID) -> Any:
        if cid in self.claims:
            return self.claims[cid]
        for e in self.ledger.store.events.get(cid, limit=1):
            return e
        return None

    def _stamp(self, effective_at: datetime | None = None) -> dict[str, Any]:
        """What every event carries: when it was recorded and took effect, who recorded it, where."""
        moment = self.ledger.clock()
        return dict(recorded_at=moment, effective_at=effective_at or moment, actor=self.actor.name,
                    role=self.actor.role, collection_point=self.actor.collection_point)

    def emit(self, person: Person, cls: type[ev.Event], effective_at: datetime, **data: Any) -> ev.Event:
        # `data` may restate where the event happened (a moved payment keeps its collection point).
        e = cls(originator_id=person.id, originator_version=person.version + 1, **{**self._stamp(effective_at), **data})
        person.apply(e)
        self.pending.append(e)
        return e

    def emit_claim(self, cid: UUID, cls: type[ev.Event], **data: Any) -> None:
        e = cls(originator_id=cid, originator_version=1, **self._stamp(), **data)
        self.claims[cid] = e
        self.pending.append(e)

    def mark(self) -> int:
        return len(self.pending)

    def rollback_to(self, mark: int) -> None:
        """Forget what a refused command emitted inside a batch; its people are folded again."""
        dropped = self.pending[mark:]
        del self.pending[mark:]
        for pid in {e.originator_id for e in dropped}:
            self.claims.pop(pid, None)
            if pid in self.people:
                kept = [e for e in self.pending if e.originator_id == pid]
                self.people[pid] = fold(pid, [*self.ledger.store.events.get(pid), *kept])

    def commit(self) -> None:
        if self.pending:
            self.ledger.committer.commit(self.pending)
        self.pending = []
