"""Registration and identity categories (参保登记, 身份认定): register, correct a registration,
certify, end or retract a category. The subsidy a category brings is decided by the enrollment
commands (domain/commands/enrollment.py)."""

from __future__ import annotations

from datetime import date

from domain import events as ev
from domain.actor import Actor
from domain.categories import resolve_category
from domain.dates import at_china_midnight, china_date
from domain.errors import (
    OUTSIDE_SCOPE,
    Conflict,
    Forbidden,
    InvalidInput,
    RefusedByRule,
)
from domain.idnumber import (
    DOCUMENT_TYPES,
    EARLIEST_BIRTH,
    mask,
    normalise_document,
    parse_resident_id,
)
from domain.owed import outstanding_fen
from domain.person import Person, person_id
from domain.plausible import IDENTITY_AHEAD, not_after, not_before, recorded_after_birth
from domain.policy import policy_by_id
from domain.regions import validate_village_code
from domain.rules import (
    decide_subsidy,
)
from domain.text import clean_text, optional_text
from domain.unit_of_work import UnitOfWork


class RegistrationCommands:
    """Commands about who a person is, run by the ledger's unit of work (domain/ledger.py)."""

    def register(
        self,
        actor: Actor,
        *,
        id_number: str,
        name: str,
        region: str,
        document_type: str = "resident_id",
        hukou_registered_on: date | None = None,
        mother_id_number: str | None = None,
        father_id_number: str | None = None,
        birth_date: date | None = None,
        sex: str | None = None,
    ) -> tuple[Person, bool]:
        """参保登记. Returns the person and whether this call created them."""
        number = normalise_document(document_type, id_number)
        if document_type == "resident_id":
            rid = parse_resident_id(number)
            birth_date, sex = rid.birth_date, rid.sex
        else:
            if birth_date is None:
                raise InvalidInput(f"is required for a {DOCUMENT_TYPES[document_type]}", "birth_date", "required")
            if sex not in ("male", "female"):
                raise InvalidInput("must be male or female", "sex", "sex")
        today = china_date(self.clock())
        birth_field = "id_number" if document_type == "resident_id" else "birth_date"  # where the date came from
        not_after(birth_date, today, birth_field, "today: a person cannot be born in the future")
        not_before(birth_date, EARLIEST_BIRTH, birth_field, "the earliest birth the ledger accepts")
        if hukou_registered_on is not None:
            not_after(hukou_registered_on, today, "hukou_registered_on", "today")
        name = clean_text(name, "name")
        region = validate_village_code(region)
        if not actor.may_serve(region):
            raise Forbidden(f"region {region} is outside the regions of your token ({', '.join(actor.regions)})",
                            "region", "region_scope")
        if hukou_registered_on is not None and hukou_registered_on < birth_date:
            raise InvalidInput("cannot be before the birth date", "hukou_registered_on", "hukou_after_birth")
        parents = {}
        for field, parent in (("mother_id_number", mother_id_number), ("father_id_number", father_id_number)):
            if parent is not None:
                parents[field] = parse_resident_id(parent, field).number
        pid = person_id(document_type, number)

        def decide(uow: UnitOfWork) -> tuple[Person, bool]:
            for field, parent in parents.items():
                if uow.person(person_id("resident_id", parent)).registration is None:
                    raise RefusedByRule(
                        "the parent must be registered first (newborn rules depend on the parents' enrollment)",
                        field,
                        "parent_registered",
                    )
            person = uow.person(pid)
            if person.registration is not None and not actor.may_serve(person.region):
                raise Forbidden(OUTSIDE_SCOPE, "id_number", "region_scope")
            wanted = {
                "name": name,
                "region": region,
                "hukou_registered_on": hukou_registered_on,
                "mother_id_number": parents.get("mother_id_number"),
                "father_id_number": parents.get("father_id_number"),
            }
            if person.registration is not None:
                r = person.registration
                have = {
                    "name": person.name,
                    "region": person.region,
                    "hukou_registered_on": person.hukou_registered_on,
                    "mother_id_number": r.mother_id_number,
                    "father_id_number": r.father_id_number,
                }
                differs = [k for k in wanted if wanted[k] is not None and wanted[k] != have[k]]
                if differs:
                    raise Conflict(
                        "already registered with a different "
                        + ", ".join(f"{k} ({mask(have[k]) if k.endswith('_id_number') and have[k] else have[k]})"
                                    for k in differs)
                        + "; a bureau correction is needed to change it",
                        differs[0],
                        "registration_differs",
                    )
                return person, False
            moment = self.clock()
            uow.emit(
                person,
                ev.PersonRegistered,
                moment,
                document_type=document_type,
                id_number=number,
                name=name,
                sex=sex,
                birth_date=birth_date,
                region=region,
                hukou_registered_on=hukou_registered_on,
                mother_id_number=wanted["mother_id_number"],
                father_id_number=wanted["father_id_number"],
            )
            return person, True

        return self._run(actor, decide)

    def correct_registration(
        self,
        actor: Actor,
        *,
        id_number: str,
        reason: str,
        document_type: str = "resident_id",
        name: str | None = None,
        region: str | None = None,
        hukou_registered_on: date | None = None,
        mother_id_number: str | None = None,
        father_id_number: str | None = None,
        birth_date: date | None = None,
    ) -> Person:
        """更正: a mistake in a registration corrected by a new event that names what it corrects.
        A newborn's parents named or 落户 date supplied decide its fee waiver again."""
        reason = clean_text(reason, "reason")
        if birth_date is not None:
            if document_type == "resident_id":
                raise InvalidInput("is part of the identity number (its 7th to 14th digits) and is not corrected on"
                                   " its own: a number with another birth date is another person's; register the"
                                   " right number and move the payments to it", "birth_date", "birth_date_in_id_number")
            not_after(birth_date, china_date(self.clock()), "birth_date", "today: a person cannot be born in the future")
            not_before(birth_date, EARLIEST_BIRTH, "birth_date", "the earliest birth the ledger accepts")
        if mother_id_number is not None:
            mother_id_number = parse_resident_id(mother_id_number, "mother_id_number").number
        if father_id_number is not None:
            father_id_number = parse_resident_id(father_id_number, "father_id_number").number
        if all(v is None for v in (name, region, hukou_registered_on, mother_id_number, father_id_number, birth_date)):
            raise InvalidInput("name what is corrected: name, region, hukou_registered_on, mother_id_number,"
                               " father_id_number or birth_date", "reason", "correction_empty")
        if region is not None:
            region = validate_village_code(region)
            if not actor.may_touch(region):
                raise Forbidden(f"region {region} is outside the regions of your token", "region", "region_scope")
        if name is not None:
            name = clean_text(name, "name")

        def decide(uow: UnitOfWork) -> Person:
            person = self._registered(uow, id_number, document_type)
            assert person.registration is not None
            born = birth_date or person.birth_date
            if birth_date is not None:
                recorded_after_birth(person, birth_date, hukou_corrected=hukou_registered_on is not None)
                self._still_newborn(person, birth_date)
            if hukou_registered_on is not None:
                not_before(hukou_registered_on, born, "hukou_registered_on", "the person's birth")
                not_after(hukou_registered_on, china_date(self.clock()), "hukou_registered_on", "today")
            if person.id_number in (mother_id_number, father_id_number):
                raise InvalidInput("is the person's own identity number", "mother_id_number" if
                                   person.id_number == mother_id_number else "father_id_number", "parent_is_self")
            uow.emit(
                person,
                ev.RegistrationCorrected,
                self.clock(),
                corrects=person.registration.originator_version,
                reason=reason,
                name=name,
                region=region,
                hukou_registered_on=hukou_registered_on,
                mother_id_number=mother_id_number,
                father_id_number=father_id_number,
                birth_date=birth_date,
            )
            if mother_id_number or father_id_number:
                for year in person.enrollments:
                    self._record_child(uow, person, year)
            self._decide_waivers_again(uow, person)
            return person

        return self._run(actor, decide)

    @staticmethod
    def _still_newborn(person: Person, born: date) -> None:
        """An enrollment as a newborn stays one only if the corrected birth keeps the person a newborn of its year."""
        for year, e in sorted(person.enrollments.items()):
            if e.cohort != "newborn" or e.cancellation is not None:
                continue
            policy = policy_by_id(e.policy_id)
            if born.year not in ((year, year - 1) if policy.newborn.born_the_year_before else (year,)):
                raise RefusedByRule(f"born on {born}, the person is not a newborn for {year}, as the enrollment for"
                                    f" {year} says: cancel that enrollment first, or check the birth date",
                                    "birth_date", "newborn_age")

    def change_identity(
        self,
        actor: Actor,
        *,
        id_number: str,
        category: str,
        action: str,
        effective_on: date,
        department: str | None = None,
        reference: str | None = None,
        document_type: str = "resident_id",
    ) -> Person:
        """Certify or end an identity category; certify may trigger the year's subsidy decision."""
        code = resolve_category(category)
        if action not in ("certify", "end"):
            raise InvalidInput("must be certify or end", "action", "action")
        department = optional_text(department, "department")
        reference = optional_text(reference, "reference")
        not_after(effective_on, china_date(self.clock()) + IDENTITY_AHEAD, "effective_on", "a year from today")

        def decide(uow: UnitOfWork) -> Person:
            person = self._registered(uow, id_number, document_type)
            not_before(effective_on, person.birth_date, "effective_on", "the person's birth")
            held = code in person.categories_held(effective_on)
            moment = at_china_midnight(effective_on)
            data = dict(category=code, effective_on=effective_on, department=department, reference=reference)
            if action == "end":
                if not any(s.category == code and s.ended_on is None for s in person.categories):
                    raise Conflict(f"the person does not hold {code}", "category", "category_held")
                uow.emit(person, ev.IdentityEnded, moment, **data)
                return person
            if held:
                return person  # already certified from that date: a repeated request changes nothing
            uow.emit(person, ev.IdentityCertified, moment, **data)
            for year, enrollment in sorted(person.enrollments.items()):
                policy = policy_by_id(enrollment.policy_id)
                if enrollment.cancellation is not None or enrollment.fee_waived:
                    continue
                if policy.after_grant != "refund" and (
                        enrollment.subsidy is not None or outstanding_fen(enrollment) == 0 < enrollment.paid_fen):
                    # Decided already and frozen (不再进行差额资助), or a difference after a grant or after
                    # full payment that the notice does not settle: the answer names it (SPEC Decision 4).
                    continue
                granted_on = max(enrollment.enrolled_on, effective_on)
                held = person.categories_held(granted_on)
                granted = enrollment.subsidy
                if granted is not None:  # the policy pays differences: decide again, record a rise only
                    again = decide_subsidy(policy, enrollment.tier, enrollment.cohort, held)
                    if again is None or again.undetermined or again.amount_fen <= granted.amount_fen:
                        continue  # no claw-back (SPEC Decision 4)
                self._grant(uow, person, year, granted_on, held)
            if code == "fp_compliant_birth":
                self._decide_waivers_again(uow, person)
            return person

        return self._run(actor, decide)

    def retract_identity(
        self, actor: Actor, *, id_number: str, category: str, reason: str, document_type: str = "resident_id",
    ) -> Person:
        """A certification recorded in error: the latest one of the category is retracted, and the
        subsidy or fee waiver decided on it is decided again from what the person truly held. An
        error is not a change of identity: SPEC Decision 4's freeze does not keep what it gave."""
        code = resolve_category(category)
        reason = clean_text(reason, "reason")

        def decide(uow: UnitOfWork) -> Person:
            person = self._registered(uow, id_number, document_type)
            spans = [s for s in person.categories if s.category == code]
            if not spans:
                raise Conflict(f"no certification of {code} is recorded for this person", "category", "category_held")
            uow.emit(person, ev.IdentityRetracted, self.clock(), corrects=spans[-1].version, category=code,
                     reason=reason)
            for year, e in sorted(person.enrollments.items()):
                if e.cancellation is None and e.subsidy is not None and e.subsidy.category == code:
                    on = e.subsidy.granted_on
                    self._grant(uow, person, year, on, person.categories_held(on))
            if code == "fp_compliant_birth":
                self._decide_waivers_again(uow, person, in_error=True)
            return person

        return self._run(actor, decide)
