"""A person's bitemporal rows: what each report needs of them, for every effective date and every
moment of recording, computed from their events with the same fold the per-person reads use.

Effective time (business dates, "as of D"): the folded person changes only on the effective day of
a world event, so the days between two such days form a segment in which the fold is constant.
One fold per segment, taken on its first day, is therefore the fold for every day in it; facts that
move within a segment (covered, between benefit start and end) are stored as those dates.

Recording time ("as known at T"): the ledger's belief changes only when one of the person's events
is recorded, so each distinct recorded_at opens a version. A row whose segment and facts are the
same in consecutive versions is one row with a longer recording interval; only what a correction
changed gets a new row. Folds are memoised on the set of events they include, so a person costs
about one fold per event, whatever the number of segments and versions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import NamedTuple
from uuid import UUID

from domain import events as ev
from domain.coverage import enrollment_view
from domain.dates import china_date
from domain.idnumber import mask
from domain.person import Person, effective_day
from domain.policy import policy_by_id
from projections.intervals import OPEN, OPEN_DAY, fork, micros

# The events of a person's stream; everything else in the log (claims, tokens, reference tables)
# is not about a person.
PERSON_EVENTS = (
    ev.PersonRegistered, ev.RegistrationCorrected, ev.IdentityCertified, ev.IdentityEnded, ev.Enrolled,
    ev.TierChanged, ev.SubsidyGranted, ev.PaymentRecorded, ev.PaymentVoided, ev.EnrollmentCancelled,
)

ASSISTED = 0  # the "year" of a person-level row: an assisted person's categories, enrolled or not


class YearFacts(NamedTuple):
    """One person, one year (or ASSISTED), within one effective segment."""

    year: int
    region: str
    enrolled: int  # enrolled and not cancelled (参保)
    paid: int  # fully paid (缴清)
    benefit_start: int  # day ordinals; 0 when there is no benefit period
    benefit_end: int
    categories: str  # identity categories held, space-separated; "" when none
    funder: str  # the subsidy, when one applies to a live enrollment; "" otherwise
    funder_name: str
    category: str
    subsidy_fen: int
    name: str  # for the outreach list of assisted persons (ASSISTED rows only)
    id_mask: str


class PaymentFacts(NamedTuple):
    year: int
    region: str
    payment_id: str
    day: int
    channel: str
    collection_point: str
    amount_fen: int
    receipt_no: str


class Row(NamedTuple):
    """A row version: facts believed over [rec_lo, rec_hi], true over days [eff_lo, eff_hi]."""

    rec_lo: int
    rec_hi: int
    node: int
    eff_lo: int
    eff_hi: int
    facts: YearFacts | PaymentFacts


def _facts(person: Person) -> tuple[list[YearFacts], list[PaymentFacts]]:
    if person.registration is None:
        return [], []
    held = " ".join(sorted(person.categories_held(date.max)))
    years: list[YearFacts] = []
    payments: list[PaymentFacts] = []
    if held:
        years.append(YearFacts(ASSISTED, person.region, 0, 0, 0, 0, held, "", "", "", 0, person.name,
                               mask(person.id_number)))
    for year, enrollment in person.enrollments.items():
        view = enrollment_view(person, year, explain=False)
        live = view.enrolled
        s = view.subsidy if live else None
        years.append(YearFacts(
            year, person.region, int(live), int(view.status == "paid"),
            view.benefit_start.toordinal() if view.benefit_start else 0,
            view.benefit_end.toordinal() if view.benefit_end else 0,
            held,
            s.funder if s else "",
            policy_by_id(view.policy).funders.get(s.funder, s.funder) if s and view.policy else "",
            s.category if s else "", s.amount_fen if s else 0, "", "",
        ))
        for p in enrollment.payments.values():
            payments.append(PaymentFacts(year, person.region, p.payment_id, china_date(p.paid_at).toordinal(),
                                         p.channel, p.collection_point or "", p.amount_fen, p.receipt_no or ""))
    return years, payments


def person_rows(pid: UUID, events: Sequence[ev.Event]) -> list[Row]:
    """Every row version of one person, from all their events (any order of recording)."""
    stream = sorted((e for e in events if isinstance(e, PERSON_EVENTS)), key=lambda e: e.originator_version)
    # Each event once: its recording time, and the day from which a question "as of D" includes it
    # (registrations and corrections: always, so day 0).
    timed = [(e.recorded_at, effective_day(e).toordinal() if e.world_event else 0, e) for e in stream]
    memo: dict[tuple[int, ...], tuple[list[YearFacts], list[PaymentFacts]]] = {}
    opened: dict[tuple, int] = {}  # (eff_lo, eff_hi, facts) -> rec_lo of the version that opened it
    rows: list[Row] = []
    for moment in sorted({t for t, _, _ in timed}):
        known = [(day, e) for t, day, e in timed if t <= moment]
        t = micros(moment)
        current = set(_segments(pid, known, memo))
        for key in [k for k in opened if k not in current]:
            lo = opened.pop(key)
            rows.append(Row(lo, t - 1, fork(lo, t - 1), *key))
        for key in current:
            if key not in opened:
                opened[key] = t
    rows.extend(Row(lo, OPEN, fork(lo, OPEN), *key) for key, lo in opened.items())
    return rows


def _segments(pid: UUID, known: list[tuple[int, ev.Event]], memo: dict) -> list[tuple[int, int, YearFacts | PaymentFacts]]:
    days = sorted({day for day, _ in known if day})
    spans: dict[YearFacts | PaymentFacts, list[int]] = {}
    out = []
    for i, day in enumerate(days):
        hi = days[i + 1] - 1 if i + 1 < len(days) else OPEN_DAY
        included = tuple(e.originator_version for d, e in known if d <= day)
        found = memo.get(included)
        if found is None:
            person = Person(pid)
            for d, e in known:
                if d <= day:
                    person.apply(e)
            found = memo[included] = _facts(person)
        for facts in (*found[0], *found[1]):
            span = spans.get(facts)
            if span is not None and span[1] == day - 1:
                span[1] = hi  # the same facts carry on: one longer segment
            else:
                if span is not None:
                    out.append((span[0], span[1], facts))
                spans[facts] = [day, hi]
    out.extend((lo, hi, facts) for facts, (lo, hi) in spans.items())
    return out
