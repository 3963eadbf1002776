"""The person's ledger folded from its events: registration, identity categories, enrollments.

`fold(events, on=D, known_at=T)` is the person as the ledger knew them at T, with the world as it
stood on D: events recorded after T are not yet known; world events effective after D have not yet
happened. Corrections apply whenever they are known: they restate the record, not the world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from datetime import date, datetime
from typing import Iterable
from uuid import UUID, uuid5

from domain import events as ev
from domain.dates import china_date

_AMOUNT = attrgetter("amount_fen")
_NAMESPACE = UUID("6b1d8e0c-5c1f-4c58-9a8e-2f3c0e7c1a11")


@lru_cache(maxsize=65536)
def person_id(document_type: str, number: str) -> UUID:
    """A person's stream id from the natural key: the same document is always the same stream."""
    return uuid5(_NAMESPACE, f"person:{document_type}:{number}")


@lru_cache(maxsize=8192)  # a row asks for its transaction's claim id several times
def claim_id(kind: str, *parts: str) -> UUID:
    return uuid5(_NAMESPACE, ":".join((kind, *parts)))


@dataclass(slots=True)
class CategorySpan:
    category: str
    certified_on: date
    ended_on: date | None
    department: str | None
    version: int

    def held_on(self, day: date) -> bool:
        return self.certified_on <= day and (self.ended_on is None or day < self.ended_on)


@dataclass(slots=True)
class Enrollment:
    year: int
    tier: int
    cohort: str
    enrolled_on: date
    policy_id: str
    fee_waived: str | None
    version: int
    fee_waiver_undetermined: str | None = None
    fee_waived_on: date | None = None  # the day the waiver's last condition was met
    subsidy: ev.SubsidyGranted | None = None
    payments: dict[str, ev.PaymentRecorded] = field(default_factory=dict)
    voided: list[ev.PaymentVoided] = field(default_factory=list)
    cancellation: ev.EnrollmentCancelled | None = None
    first_payment_version: int | None = None
    repairs: dict[str, ev.PaymentRecorded] = field(default_factory=dict)  # 修复 payments for missed years

    @property
    def paid_fen(self) -> int:
        return sum(map(_AMOUNT, self.payments.values()))

    def collected(self) -> list[ev.PaymentRecorded]:
        """Every payment taken with this enrollment: the year's contribution and repairs (修复) of
        missed years, which the collections report counts alike."""
        return [*self.payments.values(), *self.repairs.values()] if self.repairs else list(self.payments.values())


@dataclass(slots=True)
class Person:
    id: UUID
    version: int = 0
    registration: ev.PersonRegistered | None = None
    name: str = ""
    region: str = ""
    hukou_registered_on: date | None = None
    categories: list[CategorySpan] = field(default_factory=list)
    identity_events: list[ev.IdentityCertified | ev.IdentityEnded] = field(default_factory=list)
    enrollments: dict[int, Enrollment] = field(default_factory=dict)
    elsewhere: list[ev.CoverageElsewhereRecorded] = field(default_factory=list)
    claims: dict[int, ev.ClaimsYearRecorded] = field(default_factory=dict)
    mother_id_number: str | None = None  # as registered, or as corrected since
    father_id_number: str | None = None
    children: dict[int, list[UUID]] = field(default_factory=dict)  # year -> newborns whose waiver rests on this parent
    left: ev.PersonLeft | None = None  # died, moved away or joined the employee scheme (as of the fold)
    corrected_birth_date: date | None = None  # a permit's birth date corrected since registration
    # The moment the fold was cut at ("as known at"), None for everything known: the policy
    # version a question uses is the one known then.
    known_at: datetime | None = None

    @property
    def id_number(self) -> str:
        assert self.registration is not None
        return self.registration.id_number

    @property
    def birth_date(self) -> date:
        assert self.registration is not None
        return self.corrected_birth_date or self.registration.birth_date

    def categories_held(self, day: date) -> list[str]:
        held: list[str] = []
        for span in self.categories:
            if span.held_on(day) and span.category not in held:
                held.append(span.category)
        return held

    def elsewhere_during(self, first: date, last: date) -> list[ev.CoverageElsewhereRecorded]:
        """Cover held elsewhere on any day from `first` to `last`."""
        return [c for c in self.elsewhere if c.from_on <= last and (c.to_on is None or c.to_on >= first)]

    # -- applying events ---------------------------------------------------------------------
    def apply(self, e: ev.Event) -> None:
        self.version = e.originator_version
        handler = _HANDLERS.get(type(e))
        if handler is not None:
            handler(self, e)


def _registered(p: Person, e: ev.PersonRegistered) -> None:
    p.registration = e
    p.name, p.region, p.hukou_registered_on = e.name, e.region, e.hukou_registered_on
    p.mother_id_number, p.father_id_number = e.mother_id_number, e.father_id_number


def _corrected(p: Person, e: ev.RegistrationCorrected) -> None:
    p.name = e.name or p.name
    p.region = e.region or p.region
    p.hukou_registered_on = e.hukou_registered_on or p.hukou_registered_on
    p.mother_id_number = e.mother_id_number or p.mother_id_number
    p.father_id_number = e.father_id_number or p.father_id_number
    p.corrected_birth_date = e.birth_date or p.corrected_birth_date


def _waiver(p: Person, e: ev.FeeWaiverDecided) -> None:
    enrollment = p.enrollments.get(e.year)
    if enrollment is not None:
        enrollment.fee_waived, enrollment.fee_waiver_undetermined = e.fee_waived, e.fee_waiver_undetermined
        enrollment.fee_waived_on = china_date(e.effective_at) if e.fee_waived else None


def _child(p: Person, e: ev.ChildRecorded) -> None:
    p.children.setdefault(e.year, []).append(e.child_id)


def _certified(p: Person, e: ev.IdentityCertified) -> None:
    p.identity_events.append(e)
    p.categories.append(
        CategorySpan(e.category, e.effective_on, None, e.department, e.originator_version)
    )


def _retracted(p: Person, e: ev.IdentityRetracted) -> None:
    p.categories = [s for s in p.categories if s.version != e.corrects]
    p.identity_events = [c for c in p.identity_events if c.originator_version != e.corrects]


def _ended(p: Person, e: ev.IdentityEnded) -> None:
    p.identity_events.append(e)
    for span in reversed(p.categories):
        if span.category == e.category and span.ended_on is None:
            span.ended_on = e.effective_on
            break


def _enrolled(p: Person, e: ev.Enrolled) -> None:
    p.enrollments[e.year] = Enrollment(
        e.year, e.tier, e.cohort, e.enrolled_on, e.policy_id, e.fee_waived, e.originator_version,
        fee_waiver_undetermined=e.fee_waiver_undetermined, fee_waived_on=e.enrolled_on if e.fee_waived else None,
    )


def _tier_changed(p: Person, e: ev.TierChanged) -> None:
    if e.year in p.enrollments:
        p.enrollments[e.year].tier = e.tier


def _subsidy(p: Person, e: ev.SubsidyGranted) -> None:
    if e.year in p.enrollments:
        # A tier change can leave no subsidy: recorded as a decision of 0.00. An undetermined
        # amount (set outside the notice) is a decision too, of 0.00 fen until a source gives it.
        p.enrollments[e.year].subsidy = e if e.amount_fen > 0 or e.undetermined else None


def _paid(p: Person, e: ev.PaymentRecorded) -> None:
    enrollment = p.enrollments.get(e.year)
    if enrollment is not None and e.repair_year is not None:
        enrollment.repairs[e.payment_id] = e
    elif enrollment is not None:
        enrollment.payments[e.payment_id] = e
        if enrollment.first_payment_version is None:
            enrollment.first_payment_version = e.originator_version


def _voided(p: Person, e: ev.PaymentVoided) -> None:
    enrollment = p.enrollments.get(e.year)
    if enrollment is not None and (enrollment.payments.pop(e.payment_id, None) is not None
                                   or enrollment.repairs.pop(e.payment_id, None) is not None):
        enrollment.voided.append(e)


def _cancelled(p: Person, e: ev.EnrollmentCancelled) -> None:
    if e.year in p.enrollments:
        p.enrollments[e.year].cancellation = e


def _elsewhere(p: Person, e: ev.CoverageElsewhereRecorded) -> None:
    # The same cover (scheme, region, first day) recorded again restates it: typically its last
    # day, once a cover recorded as continuing has ended.
    p.elsewhere = [c for c in p.elsewhere if (c.scheme, c.region, c.from_on) != (e.scheme, e.region, e.from_on)]
    p.elsewhere.append(e)


def _claims(p: Person, e: ev.ClaimsYearRecorded) -> None:
    p.claims[e.year] = e  # the claims system's latest word on the year


def _left(p: Person, e: ev.PersonLeft) -> None:
    p.left = e


_HANDLERS = {
    ev.PersonRegistered: _registered,
    ev.RegistrationCorrected: _corrected,
    ev.IdentityCertified: _certified,
    ev.IdentityEnded: _ended,
    ev.Enrolled: _enrolled,
    ev.TierChanged: _tier_changed,
    ev.SubsidyGranted: _subsidy,
    ev.PaymentRecorded: _paid,
    ev.PaymentVoided: _voided,
    ev.EnrollmentCancelled: _cancelled,
    ev.CoverageElsewhereRecorded: _elsewhere,
    ev.ClaimsYearRecorded: _claims,
    ev.PersonLeft: _left,
    ev.IdentityRetracted: _retracted,
    ev.FeeWaiverDecided: _waiver,
    ev.ChildRecorded: _child,
}


def effective_day(e: ev.Event) -> date:
    """The business day of an event, in China time."""
    if isinstance(e, ev.PaymentRecorded):
        return china_date(e.paid_at)
    return china_date(e.effective_at)


def fold(
    pid: UUID,
    events: Iterable[ev.Event],
    *,
    on: date | None = None,
    known_at: datetime | None = None,
) -> Person:
    person = Person(pid, known_at=known_at)
    for e in events:
        if known_at is not None and e.recorded_at > known_at:
            continue
        if on is not None and e.world_event and effective_day(e) > on:
            person.version = e.originator_version
            continue
        person.apply(e)
    return person
