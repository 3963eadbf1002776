"""Enrollment for a coverage year (参保): enroll, the subsidy decided on it, a newborn's fee waiver
and the decisions resting on the parents, cancel, and a departure from the roll."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain import events as ev
from domain.actor import Actor
from domain.coverage import describe_elsewhere, enrollment_view
from domain.dates import at_china_midnight, china_date, rest_of_year
from domain.errors import Conflict, InvalidInput, RefusedByRule
from domain.idnumber import mask
from domain.person import Person, person_id
from domain.plausible import not_after, not_before
from domain.policy import find_policy, policy_by_id
from domain.rules import (
    check_student,
    coverage_bounds,
    decide_subsidy,
    refund_on_cancel,
)
from domain.text import clean_text, optional_text
from domain.unit_of_work import UnitOfWork

# graduate (大学毕业生) and veteran (退伍军人) pay as residents; a policy may free them from its window.
COHORTS = ("resident", "student", "newborn", "graduate", "veteran")
CANCEL_REASONS = ("death", "duplicate", "employee_insurance", "moved")
DEPARTURES = ("death", "moved", "employee_insurance")  # 死亡, 迁出, 参加职工医保: the person leaves the roll


def _ended_by_departure(left_on: date, year: int) -> date:
    """The day a departure cancels a year's enrollment from: cover ends after the day of leaving,
    and a later year's enrollment ends before it began (as early as a cancellation may be dated)."""
    return max(left_on, date(year - 1, 1, 1))


class EnrollmentCommands:
    """Commands about a person's coverage years, run by the ledger's unit of work (domain/ledger.py)."""

    def _grant(self, uow: UnitOfWork, person: Person, year: int, granted_on: date, held: list[str]) -> None:
        e = person.enrollments[year]
        policy = policy_by_id(e.policy_id)
        decision = decide_subsidy(policy, e.tier, e.cohort, held)
        if decision is None:
            if e.subsidy is not None:  # a tier change left nothing: record the 0.00 decision
                uow.emit(
                    person, ev.SubsidyGranted, at_china_midnight(granted_on), year=year, tier=e.tier,
                    category="", amount_fen=0, funder="", granted_on=granted_on, candidates=[],
                    rule=f"no category held gives a subsidy on tier {e.tier}",
                )
            return
        uow.emit(
            person,
            ev.SubsidyGranted,
            at_china_midnight(granted_on),
            year=year,
            tier=e.tier,
            category=decision.category,
            amount_fen=decision.amount_fen,
            funder=decision.funder,
            granted_on=granted_on,
            candidates=decision.candidates,
            rule=decision.rule,
            undetermined=decision.undetermined,
        )

    def enroll(
        self,
        actor: Actor,
        *,
        id_number: str,
        year: int,
        tier: int,
        cohort: str = "resident",
        enrolled_on: date | None = None,
        document_type: str = "resident_id",
        school: str | None = None,
    ) -> tuple[Person, str]:
        """参保 for a coverage year. Returns the person and "created", "unchanged" or "tier_changed"."""
        school = optional_text(school, "school")
        if not isinstance(year, int) or not 2000 <= year <= 2100:
            raise InvalidInput("must be a coverage year such as 2021", "year", "year")
        if cohort not in COHORTS:
            raise InvalidInput(f"must be one of {', '.join(COHORTS)}", "cohort", "cohort")
        if not isinstance(tier, int) or isinstance(tier, bool):
            raise InvalidInput("must be 1 or 2", "tier", "tier")
        today = china_date(self.clock())
        day = enrolled_on or today
        not_after(day, today, "enrolled_on", "today")

        def decide(uow: UnitOfWork) -> tuple[Person, str]:
            person = self._registered(uow, id_number, document_type, serving=True)
            policy = find_policy(person.region, year)
            not_before(day, date(year - 1, 1, 1), "enrolled_on", f"1 January of the year before coverage year {year}")
            not_before(day, person.birth_date, "enrolled_on", "the person's birth")
            policy.contribution_fen(tier, cohort)  # refuses a tier or cohort price the policy lacks
            newborn_years = (year, year - 1) if policy.newborn.born_the_year_before else (year,)
            if cohort == "newborn" and person.birth_date.year not in newborn_years:
                only = "" if policy.newborn.born_the_year_before else f" (policy {policy.id}: 当年出生的新生儿 only)"
                raise RefusedByRule(
                    f"born on {person.birth_date}: not a newborn for coverage year {year}{only}", "cohort", "newborn_age"
                )
            if cohort == "student":
                check_student(policy, person.birth_date, school)
            if person.left is not None and person.left.left_on < coverage_bounds(policy, cohort)[1]:
                left = person.left
                raise Conflict(f"the person left the roll ({left.reason}) on {left.left_on} ({left.source}):"
                               f" not to be enrolled for {year}", "id_number", "left_the_roll")
            existing = person.enrollments.get(year)
            if existing is not None:
                if existing.cancellation is not None:
                    raise Conflict(f"the {year} enrollment was cancelled; it cannot be renewed", "year", "cancelled")
                if existing.cohort != cohort:
                    raise Conflict(
                        f"already enrolled for {year} as {existing.cohort}; a change to {cohort} within the year is"
                        " not a new enrollment: the bureau cancels the first one, then enrolls again", "cohort",
                        "cohort_differs")
                if existing.tier == tier:
                    return person, "unchanged"
                if existing.payments or existing.first_payment_version is not None:
                    raise Conflict(
                        f"already enrolled on tier {existing.tier} for {year} and payment has begun;"
                        " the tier can no longer change",
                        "tier",
                        "tier_frozen_after_payment",
                    )
                decided_on = existing.subsidy.granted_on if existing.subsidy else existing.enrolled_on
                uow.emit(person, ev.TierChanged, self.clock(), year=year, tier=tier, previous_tier=existing.tier)
                self._grant(uow, person, year, decided_on, person.categories_held(decided_on))
                return person, "tier_changed"
            self._not_insured_elsewhere(person, policy, year, day)
            waived, waiver_unknown, met_on = self._fee_waiver(uow, person, policy, year, cohort)
            waived_later = bool(waived) and met_on > day  # its last condition came after the day of enrollment
            if waived_later:
                waived = None
            uow.emit(
                person,
                ev.Enrolled,
                at_china_midnight(day),
                year=year,
                tier=tier,
                cohort=cohort,
                enrolled_on=day,
                policy_id=policy.id,
                school=school if cohort == "student" else None,
                fee_waived=waived,
                fee_waiver_undetermined=waiver_unknown,
            )
            if waived_later:
                self._decide_waivers_again(uow, person)
            if not waived:
                self._grant(uow, person, year, day, person.categories_held(day))
            self._record_child(uow, person, year)
            return person, "created"

        return self._run(actor, decide)

    @staticmethod
    def _not_insured_elsewhere(person: Person, policy: Any, year: int, day: date) -> None:
        """「不得重复参保」: cover held elsewhere on any day of the year still ahead refuses the
        enrollment, naming it, unless the policy takes it with a warning (the answer then says so)."""
        held = person.elsewhere_during(*rest_of_year(day, year))
        if held and policy.elsewhere.rule == "refuse":
            raise Conflict(
                f"already insured elsewhere for {year}: {describe_elsewhere(held[0])}; 不得重复参保"
                f" ({policy.elsewhere.source})", "year", "insured_elsewhere")

    def _fee_waiver(self, uow: UnitOfWork, person: Person, policy: Any, year: int,
                    cohort: str) -> tuple[str | None, str | None, date]:
        """004 一（三）「父母双方均已参加城乡居民医疗保险并符合计划生育政策规定的新生儿，出生当年不用缴费」:
        (why it is waived, why it may be and nobody knows yet, the day its last condition was met).
        Both parents enrolled *and paid* (参加 means 参保缴费), and the birth certified as complying
        (fp_compliant_birth). A parent not enrolled: no waiver. A parent not named on the
        registration, not on record, or enrolled but not yet fully paid, or compliance not certified:
        undetermined, named, never silently owed or silently waived."""
        never = (None, None, date.min)
        if cohort != "newborn" or not policy.newborn.fee_waived_when_both_parents_enrolled:
            return never
        if person.birth_date.year != year:
            return never
        unknown = []
        met_on = date.min
        for role, parent in (("the mother", person.mother_id_number), ("the father", person.father_id_number)):
            if parent is None:
                unknown.append(f"{role} is not named on the newborn's registration, so whether {role[4:]} is enrolled"
                               " is unknown (a correction can name the parent)")
                continue
            parent_person = uow.person(person_id("resident_id", parent))
            if parent_person.registration is None:
                unknown.append(f"{role} ({mask(parent)}) is not on record")
                continue
            e = parent_person.enrollments.get(year)
            if e is None or e.cancellation is not None:
                return never
            paid_on = enrollment_view(parent_person, year, explain=False).fully_paid_on
            if paid_on is None:
                unknown.append(f"{role} is enrolled but has not fully paid for {year}")
            else:
                met_on = max(met_on, paid_on)
        compliance = [s.certified_on for s in person.categories
                      if s.category == "fp_compliant_birth" and s.ended_on is None]
        if not compliance:
            unknown.append("the birth's compliance with family-planning rules (符合计划生育政策) is not certified")
        else:
            met_on = max(met_on, min(compliance))
        sentence = f"{policy.notice} 一（三）: 父母双方均已参加…并符合计划生育政策规定的新生儿，出生当年不用缴费"
        if unknown:
            return None, f"the newborn fee waiver may apply: {'; '.join(unknown)} ({sentence})", met_on
        return f"newborn of two enrolled and paid parents, birth certified as complying ({sentence})", None, met_on

    def _decide_waivers_again(self, uow: UnitOfWork, person: Person, in_error: bool = False) -> None:
        """A fact the fee waiver rests on changed: decide it again for each newborn year (a waiver
        granted is never taken back, unless what it rested on was recorded in error). A year paid
        in full before the waiver was known is waived all the same: what was paid is then paid
        beyond the payable, refunded as the policy says."""
        for year, e in sorted(person.enrollments.items()):
            if e.cancellation is not None or (e.fee_waived and not in_error) or e.cohort != "newborn":
                continue
            policy = policy_by_id(e.policy_id)
            waived, unknown, met_on = self._fee_waiver(uow, person, policy, year, e.cohort)
            if (waived, unknown) == (e.fee_waived, e.fee_waiver_undetermined):
                continue
            on = max(e.enrolled_on, met_on if waived else china_date(self.clock()))
            uow.emit(person, ev.FeeWaiverDecided, at_china_midnight(on), year=year, fee_waived=waived,
                     fee_waiver_undetermined=unknown)

    def _decide_waivers_resting_on(self, uow: UnitOfWork, parent: Person, year: int) -> None:
        """A parent's payment for `year`: the waiver of each newborn resting on it is decided again."""
        for child_id in parent.children.get(year, ()):
            self._decide_waivers_again(uow, uow.person(child_id))

    def _record_child(self, uow: UnitOfWork, person: Person, year: int) -> None:
        """Tell each registered parent of a newborn whose waiver rests on them, so that the parent's
        payment decides the waiver again."""
        e = person.enrollments.get(year)
        if e is None or e.cohort != "newborn" or person.birth_date.year != year:
            return
        if not policy_by_id(e.policy_id).newborn.fee_waived_when_both_parents_enrolled:
            return
        for parent in {person.mother_id_number, person.father_id_number} - {None}:
            parent_person = uow.person(person_id("resident_id", parent))
            if parent_person.registration is not None and person.id not in parent_person.children.get(year, ()):
                uow.emit(parent_person, ev.ChildRecorded, self.clock(), child_id=person.id, year=year)

    def cancel(
        self, actor: Actor, *, id_number: str, year: int, reason: str, effective_on: date,
        document_type: str = "resident_id",
    ) -> Person:
        """End an enrollment; the refund is decided now by the policy and recorded with it."""
        if reason not in CANCEL_REASONS:
            raise InvalidInput(f"must be one of {', '.join(CANCEL_REASONS)}", "reason", "cancel_reason")
        not_after(effective_on, china_date(self.clock()), "effective_on", "today")

        def decide(uow: UnitOfWork) -> Person:
            person = self._registered(uow, id_number, document_type)
            not_before(effective_on, person.birth_date, "effective_on", "the person's birth")
            enrollment = person.enrollments.get(year)
            if enrollment is None:
                raise Conflict(f"the person is not enrolled for {year}", "year", "enrolled")
            if enrollment.cancellation is not None:
                raise Conflict(f"the {year} enrollment is already cancelled", "year", "cancelled")
            policy = policy_by_id(enrollment.policy_id)
            # Before the coverage starts is real (a death in December ends next year's enrollment).
            not_before(effective_on, date(year - 1, 1, 1), "effective_on", f"1 January of the year before {year}")
            not_after(effective_on, coverage_bounds(policy, enrollment.cohort)[1], "effective_on",
                      f"the end of the {year} coverage")
            self._end_enrollment(uow, person, year, reason, effective_on)
            return person

        return self._run(actor, decide)

    def _end_enrollment(self, uow: UnitOfWork, person: Person, year: int, reason: str, effective_on: date) -> None:
        """The cancellation with the refund the policy decides for it."""
        policy = policy_by_id(person.enrollments[year].policy_id)
        view = enrollment_view(person, year)
        refund, why = refund_on_cancel(policy, paid_fen=view.paid_fen, benefit_start=view.benefit_start,
                                       effective_on=effective_on)
        held = person.elsewhere_during(date(year, 1, 1), date(year, 12, 31))
        if held and reason in ("duplicate", "employee_insurance", "moved"):
            why = f"{why}; ground: insured elsewhere, {describe_elsewhere(held[0])}"
        uow.emit(person, ev.EnrollmentCancelled, at_china_midnight(effective_on), year=year, reason=reason,
                 effective_on=effective_on, refund_fen=refund, refund_rule=why)

    def record_departure(
        self, actor: Actor, *, id_number: str, reason: str, left_on: date, source: str,
        document_type: str = "resident_id",
    ) -> tuple[Person, list[int], bool]:
        """The person died, moved away or joined the employee scheme on `left_on`: a fact of the
        person, with every enrollment whose cover runs past that day ended with it (refunded as the
        policy allows), in one transaction. Returns the person, the years ended and whether it was
        recorded now (False: the same fact again, as a retry sends it)."""
        if reason not in DEPARTURES:
            raise InvalidInput(f"must be one of {', '.join(DEPARTURES)}", "reason", "departure_reason")
        source = clean_text(source, "source")
        not_after(left_on, china_date(self.clock()), "left_on", "today")

        def decide(uow: UnitOfWork) -> tuple[Person, list[int], bool]:
            person = self._registered(uow, id_number, document_type)
            not_before(left_on, person.birth_date, "left_on", "the person's birth")
            if person.left is not None:
                left = person.left
                if (left.reason, left.left_on) == (reason, left_on):
                    ended = [y for y, e in sorted(person.enrollments.items()) if e.cancellation is not None
                             and e.cancellation.reason == reason
                             and e.cancellation.effective_on == _ended_by_departure(left_on, y)]
                    return person, ended, False
                raise Conflict(f"already recorded as left the roll ({left.reason}) on {left.left_on}",
                               "reason", "already_left")
            ending = []
            for year, enrollment in sorted(person.enrollments.items()):
                policy = policy_by_id(enrollment.policy_id)
                if enrollment.cancellation is None and coverage_bounds(policy, enrollment.cohort)[1] > left_on:
                    ending.append(year)
            uow.emit(person, ev.PersonLeft, at_china_midnight(left_on), reason=reason, left_on=left_on, source=source)
            for year in ending:
                self._end_enrollment(uow, person, year, reason, _ended_by_departure(left_on, year))
            return person, ending, True

        return self._run(actor, decide)
