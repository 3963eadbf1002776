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

from bisect import bisect_right
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from functools import partial
from itertools import islice
from operator import attrgetter
from typing import NamedTuple
from uuid import UUID

from domain import events as ev
from domain.coverage import enrollment_view
from domain.idnumber import mask
from domain.person import Person, effective_day
from domain.policy import loaded_versions, policy_by_id
from projections.intervals import OPEN, OPEN_DAY, ROOT, fork, micros

# The events of a person's stream; everything else in the log (claims, tokens, reference tables)
# is not about a person.
PERSON_EVENTS = (
    ev.PersonRegistered, ev.RegistrationCorrected, ev.IdentityCertified, ev.IdentityEnded, ev.Enrolled,
    ev.TierChanged, ev.SubsidyGranted, ev.PaymentRecorded, ev.PaymentVoided, ev.EnrollmentCancelled,
    ev.CoverageElsewhereRecorded, ev.ClaimsYearRecorded, ev.PersonLeft, ev.FeeWaiverDecided,
    ev.IdentityRetracted,
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
    undetermined: int  # paid, but the policy gives no rule for the case (SPEC Decision 12), or owes an unknown amount
    elsewhere: str  # cover held elsewhere, "first:last" day ordinals, space-separated (ASSISTED rows only)
    owed_unknown: int  # of the undetermined: not paid, and what is owed is unknown (a 据实 subsidy, a waiver)
    amount_unknown: int  # enrolled under a subsidy whose amount other rules set (据实), paid or not


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


# The longest text a report row carries: PostgreSQL cannot index a row of more than 2,704 bytes.
TEXT_IN_ROW = 200


def held_elsewhere(spans: str, first: int, last: int) -> bool:
    """Whether the spans of an ASSISTED row's `elsewhere` hold any day from `first` to `last`."""
    for span in spans.split():
        lo, hi = span.split(":")
        if int(lo) <= last and int(hi) >= first:
            return True
    return False


def fit(text: str) -> str:
    """Text as a row can hold it. The ledger refuses NUL and over-long text when it is recorded,
    but the projection must survive any event already stored: PostgreSQL cannot hold a NUL, nor
    index a megabyte, and one such row would stop every report."""
    if len(text) > TEXT_IN_ROW or "\x00" in text:
        return text.replace("\x00", "\ufffd")[:TEXT_IN_ROW]
    return text


def _facts(person: Person, paid_days: dict[int, int]) -> list[YearFacts | PaymentFacts]:
    """The facts of a folded person: a row's worth for each year, the assisted row, each payment."""
    if person.registration is None:
        return []
    # One who died or left the roll is no longer to be enrolled: assisted in no report from then on.
    held = " ".join(sorted(person.categories_held(date.max))) if person.categories and person.left is None else ""
    years: list[YearFacts] = []
    payments: list[PaymentFacts] = []
    if held:
        elsewhere = " ".join(f"{c.from_on.toordinal()}:{c.to_on.toordinal() if c.to_on else OPEN_DAY}"
                             for c in person.elsewhere)
        years.append(_year((ASSISTED, person.region, 0, 0, 0, 0, held, "", "", "", 0, fit(person.name),
                            mask(person.id_number), 0, elsewhere, 0, 0)))
    for year, enrollment in person.enrollments.items():
        view = enrollment_view(person, year, explain=False)
        live = view.enrolled
        s = view.subsidy if live or view.subsidy_spent else None  # an ended cover keeps what it spent
        years.append(_year((
            year, person.region, int(live), int(view.status == "paid"),
            view.benefit_start.toordinal() if view.benefit_start else 0,
            view.benefit_end.toordinal() if view.benefit_end else 0,
            held,
            s.funder if s else "",
            policy_by_id(view.policy, person.known_at).funders.get(s.funder, s.funder) if s and view.policy else "",
            s.category if s else "", s.amount_fen if s else 0, "", "", int(view.is_undetermined), "",
            int(view.owed_unknown), int(live and view.subsidy_amount_unknown),
        )))
        for p in enrollment.collected():
            payments.append(_payment((year, person.region, p.payment_id, paid_days[id(p)],
                                      p.channel, fit(p.collection_point or ""), p.amount_fen, fit(p.receipt_no or ""))))
    return years + payments


def person_rows(pid: UUID, events: Sequence[ev.Event], any_order: bool = False) -> list[Row]:
    """Every row version of one person, from all their events (any order of recording).
    `any_order`: by the general computation even where the events are in order (for the tests
    that compare the two)."""
    stream = [e for e in events if type(e) in _PERSON_TYPES]
    stream.sort(key=_VERSION)
    loads = _policy_loads(stream)
    in_order = None if any_order or loads else _in_order(stream)
    if in_order is not None:
        times, days, paid_days = in_order
        if not days:
            return []  # registered, nothing more: no row until something happens in the world
        _check_clock(pid, times[-1])
        return _rows_in_order(_Folds(pid, stream, paid_days), times, days)
    # A set of the person's events is a bit mask over `stream` (bit i: stream[i]): a fold is
    # memoised on the events it includes, and a mask is that set at the cost of one integer.
    known_by: dict[int, int] = {}  # recording time (µs) -> the events recorded at it
    effective_by: dict[int, int] = {}  # effective day -> the events effective on it
    always = 0  # the events that are not world events: in every question "as of" a day
    paid_days = {}  # id of a payment event -> the day it was paid
    bit = 1
    for e in stream:
        t = micros(e.recorded_at)  # an integer: cheaper to hash and sort than an aware datetime
        known_by[t] = known_by.get(t, 0) | bit
        if e.world_event:
            day = effective_day(e).toordinal()
            effective_by[day] = effective_by.get(day, 0) | bit
            if type(e) is ev.PaymentRecorded:
                paid_days[id(e)] = day
        else:
            always |= bit
        bit <<= 1
    if known_by:
        _check_clock(pid, max(known_by))
    world = (bit - 1) & ~always
    if not world:
        return []  # registered, nothing more: no row until something happens in the world
    for moment in loads:  # a policy version loaded: the person's facts may change with no event of theirs
        known_by.setdefault(micros(moment), 0)
    return _rows_any_order(_Folds(pid, stream, paid_days, loads), known_by, effective_by, always, world)


def _policy_loads(stream: list[ev.Event]) -> list[datetime]:
    """When each loaded version of a policy the person enrolled under became known, in order; a
    version loaded before the person's first event is known at every moment they have rows."""
    versions = loaded_versions()
    if not versions or not stream:
        return []
    ids = {e.policy_id for e in stream if type(e) is ev.Enrolled}
    first = min(e.recorded_at for e in stream)
    return sorted(v.recorded_at for v in versions if v.policy.id in ids and v.recorded_at > first)


def _in_order(stream: list[ev.Event]) -> tuple[list[int], list[int], dict[int, int]] | None:
    """For a stream in order (see _rows_in_order), each event's recording time (µs), each world
    event's effective day, and the day of each payment event (by its id); None for any other."""
    if not stream or stream[0].world_event:
        return None
    last_t = micros(stream[0].recorded_at)  # the registration's
    times, days = [last_t], []
    paid_days: dict[int, int] = {}
    last_day = 0
    for e in islice(stream, 1, None):
        t = micros(e.recorded_at)
        if not e.world_event or t <= last_t:
            return None
        day = effective_day(e).toordinal()
        if day < last_day:
            return None
        if type(e) is ev.PaymentRecorded:
            paid_days[id(e)] = day
        times.append(t)
        days.append(day)
        last_t, last_day = t, day
    return times, days, paid_days


def _check_clock(pid: UUID, latest: int) -> None:
    if latest >= ROOT:  # the reports' queries rely on it (projections/intervals.py)
        raise ValueError(f"person {pid} has an event recorded after 2112: is the ledger's clock right?")


def _rows_any_order(folds: _Folds, known_by: dict[int, int], effective_by: dict[int, int], always: int,
                    world: int) -> list[Row]:
    """For each moment of recording, every segment of effective time believed from it; a row
    version for each span of equal facts, from the moment it is first believed to the moment
    before it no longer is."""
    as_of = []  # (day, the events included in a question "as of" that day), by day
    included = always
    for day in sorted(effective_by):
        included |= effective_by[day]
        as_of.append((day, included))
    facts = folds.facts
    opened: dict[tuple[int, int, int], int] = {}  # (eff_lo, eff_hi, facts id) -> rec_lo of its version
    rows: list[Row] = []
    known = 0
    for t in sorted(known_by):
        known |= known_by[t]
        if not known & world:
            continue  # no world event known yet: the person has no row (and had none before)
        folds.at(t)
        # The segments believed from this moment: one fold for each day on which a known event
        # takes effect, the same facts on consecutive segments joined into one span.
        believed: set[tuple[int, int, int]] = set()
        live: dict[int, int] = {}  # facts id -> first day of its span, for the facts of the latest segment
        previous = known & always
        for day, included in as_of:
            mask = known & included
            if mask == previous:
                continue  # no known event takes effect on this day
            previous = mask
            ids = folds(mask)
            if live:
                for f in [f for f in live if f not in ids]:
                    believed.add((live.pop(f), day - 1, f))  # its span ends the day before
            for f in ids:
                if f not in live:
                    live[f] = day
        for f, lo in live.items():
            believed.add((lo, OPEN_DAY, f))
        for key in [k for k in opened if k not in believed]:
            lo = opened.pop(key)
            rows.append(_row((lo, t - 1, fork(lo, t - 1), key[0], key[1], facts[key[2]])))
        for key in believed:
            if key not in opened:
                opened[key] = t
    return _close(rows, opened, facts)


def _rows_in_order(folds: _Folds, times: list[int], days: list[int]) -> list[Row]:
    """person_rows for a stream in order: the registration first, then each world event recorded
    after the one before and taking effect no earlier (99.6% of the Qianjiang demo's persons).

    Then the k-th world event's recording adds one segment of effective time at its day, or, on
    the day of the last segment, replaces that segment's fold; every earlier segment, and so
    every span ending before the last segment, stays as it was. So each recording changes only
    the spans touching the last segment, and this computes just those, where _rows_any_order
    recomputes every segment (tests/test_projection_rows.py checks that both give the same rows).
    """
    facts = folds.facts
    opened: dict[tuple[int, int, int], int] = {}  # (eff_lo, eff_hi, facts id) -> rec_lo of its version
    rows: list[Row] = []
    live: dict[int, int] = {}  # facts id -> first day of its span, for the facts of the last segment
    before: dict[int, int] = {}  # the same, entering the last segment
    start = 0  # the first day of the last segment
    for end, (t, day) in enumerate(zip(times[1:], days), 2):  # times[0]: the registration's
        ids = folds.along(end)  # the registration and the world events up to this one
        if day > start:  # a new last segment: the spans that ended before it stay as they are
            before = live.copy()
            for f in [f for f in live if f not in ids]:
                key = (live.pop(f), OPEN_DAY, f)
                lo = opened.pop(key)
                rows.append(_row((lo, t - 1, fork(lo, t - 1), key[0], key[1], facts[f])))
                opened[(key[0], day - 1, f)] = t
            for f in ids:
                if f not in live:
                    live[f] = day
                    opened[(day, OPEN_DAY, f)] = t
            start = day
            continue
        # The same day as the last segment: its fold is replaced.
        old = {(lo, start - 1, f) for f, lo in before.items() if f not in live}
        old.update((lo, OPEN_DAY, f) for f, lo in live.items())
        live = {f: before.get(f, start) for f in ids}
        tail = {(lo, start - 1, f) for f, lo in before.items() if f not in live}
        tail.update((lo, OPEN_DAY, f) for f, lo in live.items())
        for key in old - tail:
            lo = opened.pop(key)
            rows.append(_row((lo, t - 1, fork(lo, t - 1), key[0], key[1], facts[key[2]])))
        for key in tail - old:
            opened[key] = t
    return _close(rows, opened, facts)


def _close(rows: list[Row], opened: dict[tuple[int, int, int], int], facts: dict[int, YearFacts | PaymentFacts]) -> list[Row]:
    """The rows, with the versions still believed now: each filed at the root, which is
    fork(lo, OPEN) for every lo before it (projections/intervals.py; _check_clock)."""
    for (eff_lo, eff_hi, f), lo in opened.items():
        rows.append(_row((lo, OPEN, ROOT, eff_lo, eff_hi, facts[f])))
    return rows


_PERSON_TYPES = frozenset(PERSON_EVENTS)
_VERSION = attrgetter("originator_version")
# Named tuples made without their Python-level __new__: Row((...)) is Row(...) at half the cost.
_row = partial(tuple.__new__, Row)
_year = partial(tuple.__new__, YearFacts)
_payment = partial(tuple.__new__, PaymentFacts)


class _Folds:
    """The facts of each set of a person's events, folded once; equal facts are one object, so
    they compare by identity.

    Most sets asked for are prefixes of the stream (events recorded in order, each taking effect
    no earlier than the one before: 99.6% of the Qianjiang demo's persons), each the one before
    and one event more. One person folded along the stream answers those, an event applied once
    rather than once for every later prefix; any other set is folded from the start. Both apply
    the same events in the same order, so they give the same person."""

    def __init__(self, pid: UUID, stream: list[ev.Event], paid_days: dict[int, int], loads: Sequence[datetime] = ()):
        self.pid, self.stream, self.paid_days = pid, stream, paid_days
        # Where policies were loaded, a fold is also of the policy versions known at the moment
        # asked (at()): remembered per set of events and number of loads known.
        self.loads, self.load_micros = list(loads), [micros(t) for t in loads]
        self.epoch, self.known_at = 0, None
        self.at(0)
        self.by_mask: dict[int, tuple[int, ...]] = {}
        self.facts: dict[int, YearFacts | PaymentFacts] = {}  # id -> the one object with those facts
        self._same: dict[YearFacts | PaymentFacts, YearFacts | PaymentFacts] = {}
        self._along = Person(pid)  # folded over stream[:self._applied]
        self._applied = 0

    def at(self, t: int) -> None:
        """Fold from now on with the policies known at recording time `t` (µs)."""
        if self.loads:
            self.epoch = bisect_right(self.load_micros, t)
            self.known_at = self.loads[self.epoch - 1] if self.epoch else self.loads[0] - timedelta(microseconds=1)

    def __call__(self, mask: int) -> tuple[int, ...]:
        key = mask | (self.epoch << len(self.stream))  # which events, and how many loads are known
        found = self.by_mask.get(key)
        if found is None:
            end = mask.bit_length()
            if not self.loads and mask & (mask + 1) == 0 and end >= self._applied:  # stream[:end], at or past the fold along it
                found = self.by_mask[key] = self.along(end)
                return found
            person = Person(self.pid, known_at=self.known_at)
            rest = mask
            for e in self.stream:
                if rest & 1:
                    person.apply(e)
                rest >>= 1
            found = self.by_mask[key] = self._ids(person)
        return found

    def along(self, end: int) -> tuple[int, ...]:
        """The facts of stream[:end], at or past the fold along the stream. _rows_in_order asks
        each prefix once, so only a fold asked for by its set is remembered (in __call__)."""
        person = self._along
        for e in self.stream[self._applied:end]:
            person.apply(e)
        self._applied = end
        return self._ids(person)

    def _ids(self, person: Person) -> tuple[int, ...]:
        ids = []
        same, facts = self._same, self.facts
        for f in _facts(person, self.paid_days):
            f = same.setdefault(f, f)
            i = id(f)
            facts[i] = f
            ids.append(i)
        return tuple(ids)
