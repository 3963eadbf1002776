"""Every person folded from the whole event log, read in pages: a full scan, exact for any date
and known time. The brute force (projections/brute.py) the projection's rows are tested against."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

from domain import events as ev
from domain.person import Person, fold
from domain.store import EventStore

PAGE = 5000


def scan_events(store: EventStore, page: int = PAGE) -> Iterator[ev.Event]:
    start = 1
    while True:
        notifications = store.recorder.select_notifications(start=start, limit=page)
        if not notifications:
            return
        for n in notifications:
            yield store.mapper.to_domain_event(n)
        start = notifications[-1].id + 1


def all_people(store: EventStore, *, on=None, known_at=None) -> Iterator[Person]:
    streams: dict[UUID, list[ev.Event]] = {}
    for e in scan_events(store):
        if not isinstance(e, (ev.IdempotencyKeyClaimed, ev.TransactionIdClaimed)):
            streams.setdefault(e.originator_id, []).append(e)
    for pid, events in streams.items():
        events.sort(key=lambda e: e.originator_version)
        person = fold(pid, events, on=on, known_at=known_at)
        if person.registration is not None:
            yield person
