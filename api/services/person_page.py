"""One person as the console shows them: registration, identity categories, each coverage year with
its explanation, and the history as a timeline, all as the ledger knew them at a chosen time, with
what has changed since marked."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from api.services.persons import history_row, person_out
from domain.categories import chinese_name
from domain.errors import NotFound
from domain.ledger import Ledger
from domain.person import Person, fold

# The fields of a coverage year compared between the chosen time and now.
COMPARED = ("tier", "status", "contribution", "subsidy", "individual_payable", "paid", "outstanding", "fully_paid_on",
            "benefit_start", "benefit_end", "refund", "coverage_status", "undetermined_because")


@dataclass
class PersonPage:
    current: Person  # as known now: whose region the reader's scope is checked against
    known_at: datetime | None
    registration: dict[str, Any] | None  # None: not yet registered at known_at
    categories: list[dict[str, Any]] = field(default_factory=list)
    elsewhere: list[dict[str, Any]] = field(default_factory=list)
    years: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)


def person_page(ledger: Ledger, pid: UUID, known_at: datetime | None) -> PersonPage:
    events = list(ledger.store.events.get(pid))
    if not events:
        raise NotFound("no person at this address", "person", "person_exists")
    current = fold(pid, events)
    if current.registration is None:
        raise NotFound("no person at this address", "person", "person_exists")
    then = fold(pid, events, known_at=known_at) if known_at else current
    page = PersonPage(current, known_at, person_out(then) if then.registration else None)
    if page.registration is None:
        page.timeline = _timeline(events, known_at)
        return page
    page.categories = [{"category": s.category, "name": chinese_name(s.category), "since": s.certified_on,
                        "until": s.ended_on, "department": s.department} for s in then.categories]
    page.elsewhere = [{"scheme": c.scheme, "region": c.region, "from": c.from_on, "to": c.to_on, "source": c.source}
                      for c in then.elsewhere]
    for year in sorted(set(then.enrollments) | set(current.enrollments), reverse=True):
        answer = ledger.coverage_of(then, year, known_at=known_at).to_api() if year in then.enrollments else None
        now = ledger.coverage_of(current, year).to_api() if known_at else None
        changed = ([k for k in COMPARED if (answer or {}).get(k) != now.get(k)] if now is not None else [])
        page.years.append({"year": year, "answer": answer, "now": now, "changed": changed})
    page.timeline = _timeline(events, known_at)
    return page


def _timeline(events: list[Any], known_at: datetime | None) -> list[dict[str, Any]]:
    """Every event, oldest first; a correction links to what it corrects and back."""
    corrected_by: dict[int, int] = {}
    for e in events:
        if getattr(e, "corrects", None) is not None:
            corrected_by[e.corrects] = e.originator_version
    rows = []
    for e in events:
        row = history_row(e)
        row["corrects"] = getattr(e, "corrects", None)
        row["corrected_by"] = corrected_by.get(e.originator_version)
        row["after"] = known_at is not None and e.recorded_at > known_at
        rows.append(row)
    return rows
