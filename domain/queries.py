"""A person's events, the person folded as of a date and as known at a time, and the coverage
answer (the API's enrollment shape) for a year."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

from domain import events as ev
from domain.coverage import CoverageView, enrollment_view
from domain.errors import LedgerError, NotFound
from domain.idnumber import mask
from domain.person import Person, fold
from domain.policy import find_policy
from domain.unit_of_work import UnitOfWork


class PersonQueries:
    """Per-person reads over the ledger's store (domain/ledger.py)."""

    def events_of(self, id_number: str, document_type: str = "resident_id") -> tuple[UUID, list[ev.Event]]:
        pid = self._pid(id_number, document_type)
        events = list(self.store.events.get(pid))
        if not events:
            raise NotFound(f"no person is registered with {document_type} {id_number}", "id_number", "person_exists")
        return pid, events

    def current_person(self, id_number: str, document_type: str = "resident_id") -> Person:
        """The person with what the current batch decided but has not saved yet."""
        uow = self._batch or UnitOfWork(self)
        return self._registered(uow, id_number, document_type, writing=False)

    def person(
        self, id_number: str, *, as_of: date | None = None, known_at: datetime | None = None,
        document_type: str = "resident_id",
    ) -> Person:
        """The person as things stood on `as_of` (facts that took effect later left out), as the
        ledger knew them at `known_at`."""
        pid, events = self.events_of(id_number, document_type)
        person = fold(pid, events, on=as_of, known_at=known_at)
        if person.registration is None:
            raise NotFound(f"no person was registered with {id_number} at {known_at}", "id_number", "person_exists")
        return person

    def coverage(
        self, id_number: str, year: int, *, on: date | None = None, as_of: date | None = None,
        known_at: datetime | None = None, document_type: str = "resident_id",
    ) -> CoverageView:
        """Two questions, both as known at `known_at` (SPEC Decision 13): `on`, the date tested
        against the benefit period computed from everything known (a newborn paid in June is
        covered on the birth date); `as_of`, how things stood on a date, later facts left out."""
        person = self.person(id_number, as_of=as_of, known_at=known_at, document_type=document_type)
        return self.coverage_of(person, year, on=on, as_of=as_of, known_at=known_at)

    def coverage_of(self, person: Person, year: int, *, on: date | None = None, as_of: date | None = None,
                    known_at: datetime | None = None) -> CoverageView:
        """The person's enrollment view, and where they are not enrolled but a policy covers a baby
        through its enrolled mother (003), that cover, with the shared ceiling named."""
        view = enrollment_view(person, year, on)
        mother_id = person.mother_id_number
        if view.status == "cancelled" or person.birth_date.year != year or person.registration is None \
                or not mother_id:
            return view
        try:
            sentence = find_policy(person.region, year).newborn.through_mother
            mother = self.person(mother_id, as_of=as_of, known_at=known_at) if sentence else None
        except LedgerError:
            return view  # no policy for the year, or no mother on record then
        if mother is None:
            return view
        hers = enrollment_view(mother, year, explain=False)
        who = f"the mother {mask(mother_id)}"
        if view.status != "not_enrolled":
            self._through_mother_before(view, person, hers, who, sentence)
            return view
        if hers.is_undetermined:
            view.undetermined = f"covered through {who} if she is, and her cover is undetermined: {hers.undetermined}"
        elif hers.benefit_start is not None and hers.benefit_end is not None:
            start, end = max(person.birth_date, hers.benefit_start), hers.benefit_end
            if start <= end:
                view.benefit_start, view.benefit_end = start, end
                view.covered_through = f"{who}, within her annual maximum payment (合计不超过其母当年享受的最高支付额)"
                view.explanation.append(f"not enrolled in their own right: covered through {who} from {start} to"
                                        f" {end}, the two together within her annual maximum ({sentence})")
                if on is not None:
                    view.explanation.append(f"on {on}: {view.coverage_status(on).replace('_', ' ')}")
        return view

    @staticmethod
    def _through_mother_before(view: CoverageView, person: Person, hers: CoverageView, who: str,
                               sentence: str) -> None:
        """003 「未独立参保的，可随参加居民医保的母亲享受居民医保待遇」: a baby that enrolls in its own right later
        was 未独立参保 until then, and the cover it had through its mother stays. From its own
        enrollment until its own cover begins the notice says nothing: those days are undetermined."""
        enrolled_on = person.enrollments[view.year].enrolled_on
        if hers.is_undetermined or hers.benefit_start is None or hers.benefit_end is None:
            return
        start = max(person.birth_date, hers.benefit_start)
        own = view.benefit_start
        end = min(hers.benefit_end, enrolled_on - timedelta(days=1), (own - timedelta(days=1)) if own else date.max)
        if start > end:
            return
        view.through_mother = (start, end)
        view.covered_through = f"{who} before enrolling in its own right, within her annual maximum"
        view.explanation.append(f"before enrolling in its own right on {enrolled_on}: covered through {who} from"
                                f" {start} to {end}, within her annual maximum ({sentence})")
        gap_end = min(hers.benefit_end, (own - timedelta(days=1)) if own else hers.benefit_end)
        if own is not None and enrolled_on <= gap_end:
            view.unsettled_days = (enrolled_on, gap_end)
            view.explanation.append(f"from {enrolled_on} to {gap_end}, enrolled in its own right and its own cover not"
                                    " begun: whether the cover through the mother runs on is undetermined (the notice"
                                    " gives it to a baby 未独立参保 and says no more)")

    def coverage_at_version(self, pid: UUID, year: int, version: int) -> CoverageView:
        """The enrollment exactly as the ledger said it right after a given event (idempotent replays)."""
        person = fold(pid, self.store.events.get(pid, lte=version))
        return enrollment_view(person, year)
