"""The ledger's write model: commands in, events out, one person per transaction.

A command loads the person's events, decides, and saves the new events in one transaction. Two
commands racing on one person both read version n; the second to commit finds version n+1 taken
(IntegrityError), nothing of it is written, and it runs again on the fresh state. Claims (an
idempotency key, a channel's transaction id) are one-event streams saved in the same transaction,
so a retried request can never post twice.
"""

from __future__ import annotations

import random
import re
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError, OperationalError

from domain import events as ev
from domain.categories import resolve_category
from domain.coverage import CoverageView, describe_elsewhere, enrollment_view
from domain.owed import outstanding_fen
from domain.dates import at_china_midnight, china_date, now, rest_of_year
from domain.errors import OUTSIDE_SCOPE, Conflict, Forbidden, InvalidInput, LedgerError, NotFound, RefusedByRule
from domain.groupcommit import GroupCommit
from domain.idnumber import DOCUMENT_TYPES, EARLIEST_BIRTH, mask, normalise_document, parse_resident_id
from domain.money import parse_yuan, yuan
from domain.person import Person, claim_id, fold, person_id
from domain.policy import find_policy, policy_by_id
from domain.regions import validate_village_code
from domain.plausible import CLOCK_SKEW, IDENTITY_AHEAD, not_after, not_before, recorded_after_birth, within_season
from domain.rules import (
    check_payment_date, check_repair, check_student, coverage_bounds, decide_subsidy, payment_season, refund_on_cancel,
)
from domain.actor import Actor
from domain.policy_load import install_from
from domain.schema import check as check_schema
from domain.store import open_store, storage_env
from domain.text import clean_text, optional_text

# graduate (大学毕业生) and veteran (退伍军人) pay as residents; a policy may free them from its window.
COHORTS = ("resident", "student", "newborn", "graduate", "veteran")
CHANNELS = ("wechat", "alipay", "pos", "bank", "tax_hall", "cash", "app")
CANCEL_REASONS = ("death", "duplicate", "employee_insurance", "moved")
DEPARTURES = ("death", "moved", "employee_insurance")  # 死亡, 迁出, 参加职工医保: the person leaves the roll
SCHEMES = ("employee", "resident")  # 职工医保, 城乡居民医保
_DIVISION = re.compile(r"[0-9]{6}(?:[0-9]{3})?(?:[0-9]{3})?")
MAX_ATTEMPTS = 30

T = TypeVar("T")


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


class UnitOfWork:
    """The events decided by one command (or one batch of commands), saved in one transaction."""

    def __init__(self, ledger: Ledger, actor: Actor | None = None):
        self.ledger = ledger
        self.actor = actor or Actor("?", "?")
        self.pending: list[ev.Event] = []
        self.people: dict[UUID, Person] = {}
        self.claims: dict[UUID, ev.Event] = {}

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
        for i, events in self.ledger.store.select_streams(wanted).items():
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


def _ended_by_departure(left_on: date, year: int) -> date:
    """The day a departure cancels a year's enrollment from: cover ends after the day of leaving,
    and a later year's enrollment ends before it began (as early as a cancellation may be dated)."""
    return max(left_on, date(year - 1, 1, 1))


class Ledger:
    """Commands and per-person queries over one event store."""

    def __init__(self, env: dict[str, str] | None = None, clock: Callable[[], datetime] = now):
        self.env = storage_env() if env is None else env
        self.store = open_store(self.env)
        check_schema(self.store)  # never write into a database of another release's shape
        install_from(self.store)  # the policies loaded into this ledger are in force in this process
        self.committer = GroupCommit(self._insert)
        self.clock = clock
        self._batch: UnitOfWork | None = None
        self._batch_size = 0
        self._batch_commands = 0

    def close(self) -> None:
        self.store.close()

    def _insert(self, events: list[ev.Event]) -> None:
        """Through the recorder, skipping the library's per-event Recording objects nobody reads."""
        self.store.recorder.insert_events([self.store.mapper.to_stored_event(e) for e in events])

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
            self._batch_commands += 1
            if self._batch_commands >= self._batch_size:
                self.flush()
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
    def batch(self, size: int = 1000) -> Iterator[None]:
        """Commands inside share transactions of `size` commands (for bulk loads: demo, bench)."""
        self._batch, self._batch_size, self._batch_commands = UnitOfWork(self), size, 0
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
            self._batch_commands = 0

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

    # -- commands -----------------------------------------------------------------------------
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

    def record_coverage_elsewhere(
        self, actor: Actor, *, id_number: str, scheme: str, region: str, from_on: date, to_on: date | None,
        source: str, evidence: str | None = None, document_type: str = "resident_id",
    ) -> tuple[Person, bool]:
        """Record cover held elsewhere (职工医保, another 统筹区) or before the ledger held the person.
        Returns the person and whether anything new was recorded (the same fact again is not)."""
        if scheme not in SCHEMES:
            raise InvalidInput("must be employee (职工医保) or resident (城乡居民医保)", "scheme", "scheme")
        if not isinstance(region, str) or not _DIVISION.fullmatch(region):
            raise InvalidInput("must be the 统筹区's administrative division code: 6, 9 or 12 digits 0-9, such as"
                               " 370202", "region", "division_code")
        source = clean_text(source, "source")
        evidence = optional_text(evidence, "evidence")
        today = china_date(self.clock())
        not_after(from_on, today, "from", "today")
        if to_on is not None:
            not_after(to_on, today, "to", "today (leave it out while the cover continues)")
            not_before(to_on, from_on, "to", "from")

        def decide(uow: UnitOfWork) -> tuple[Person, bool]:
            person = self._registered(uow, id_number, document_type)
            not_before(from_on, person.birth_date, "from", "the person's birth")
            fact = (scheme, region, from_on, to_on)
            if any((c.scheme, c.region, c.from_on, c.to_on) == fact for c in person.elsewhere):
                return person, False
            if scheme == "resident":
                for year, e in sorted(person.enrollments.items()):
                    own = policy_by_id(e.policy_id).region
                    overlaps = from_on <= date(year, 12, 31) and (to_on is None or to_on >= date(year, 1, 1))
                    if e.cancellation is None and overlaps and (region.startswith(own) or own.startswith(region)):
                        raise Conflict(
                            f"the ledger itself records the person's {year} resident cover in {own}: a resident"
                            f" cover of {region} over that year is not cover held elsewhere", "from",
                            "overlaps_ledger_year")
            uow.emit(person, ev.CoverageElsewhereRecorded, at_china_midnight(from_on), scheme=scheme, region=region,
                     from_on=from_on, to_on=to_on, source=source, evidence=evidence)
            return person, True

        return self._run(actor, decide)

    def record_claims_year(
        self, actor: Actor, *, id_number: str, year: int, reimbursed: bool, reward_used: bool, source: str,
        document_type: str = "resident_id",
    ) -> tuple[Person, bool]:
        """A coverage year's claims from the claims system: whether the fund reimbursed anything, and
        whether the 大病保险 reward was used. Returns the person and whether anything new was recorded."""
        if not isinstance(year, int) or isinstance(year, bool) or not 2000 <= year <= china_date(self.clock()).year:
            raise InvalidInput("must be a coverage year that has begun, such as 2026", "year", "year")
        for name, value in (("reimbursed", reimbursed), ("reward_used", reward_used)):
            if not isinstance(value, bool):
                raise InvalidInput("must be true or false", name, "boolean")
        if reward_used and not reimbursed:
            raise InvalidInput("the reward is used by a reimbursement: reimbursed must be true when reward_used is",
                               "reward_used", "reward_needs_reimbursement")
        source = clean_text(source, "source")

        def decide(uow: UnitOfWork) -> tuple[Person, bool]:
            person = self._registered(uow, id_number, document_type)
            not_before(date(year, 12, 31), person.birth_date, "year", "the person's birth")
            known = person.claims.get(year)
            if known is not None and (known.reimbursed, known.reward_used) == (reimbursed, reward_used):
                return person, False
            uow.emit(person, ev.ClaimsYearRecorded, at_china_midnight(date(year, 12, 31)), year=year,
                     reimbursed=reimbursed, reward_used=reward_used, source=source)
            return person, True

        return self._run(actor, decide)

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

    def pay(
        self,
        actor: Actor,
        *,
        id_number: str,
        year: int,
        amount: object,
        paid_at: datetime,
        channel: str,
        receipt_no: str | None = None,
        transaction_id: str | None = None,
        idempotency_key: str | None = None,
        fingerprint: str = "",
        document_type: str = "resident_id",
        with_view: bool = True,
        repair_year: int | None = None,
    ) -> PaymentResult:
        """缴费. With an idempotency key, a retry returns the first result and posts nothing."""
        # A Fen is an amount the caller parsed and checked already (the daily file does).
        amount_fen = amount.fen if isinstance(amount, Fen) else parse_yuan(amount)
        if not isinstance(paid_at, datetime) or paid_at.tzinfo is None:
            raise InvalidInput("must be a date-time with an offset, like 2021-02-15T10:00:00+08:00", "paid_at", "datetime_offset")
        if paid_at > self.clock() + CLOCK_SKEW:
            raise InvalidInput(f"{paid_at.isoformat()} is in the future: check the terminal's clock", "paid_at",
                               "date_range")
        if channel not in CHANNELS:
            raise InvalidInput(f"must be one of {', '.join(CHANNELS)}", "channel", "channel")
        receipt_no = optional_text(receipt_no, "receipt_no")
        if channel == "cash" and receipt_no is None:
            raise InvalidInput("is required for cash: a cash payment gets a receipt (现金收款凭证)", "receipt_no", "cash_receipt")
        if transaction_id is not None:
            transaction_id = clean_text(transaction_id, "transaction_id")
        pid = self._pid(id_number, document_type)
        # Keys are scoped to the collection point (to the token where it speaks for none).
        scope = actor.collection_point or f"token:{actor.name}"
        key_claim = claim_id("idempotency", scope, idempotency_key) if idempotency_key else None
        txn_claim = claim_id("transaction", transaction_id) if transaction_id else None

        def decide(uow: UnitOfWork) -> PaymentResult:
            # The person and the claims in one read (the hot path of every collection point);
            # a batch has usually read them already.
            if pid not in uow.people:
                uow.prefetch([pid], [c for c in (key_claim, txn_claim) if c is not None])
            if key_claim is not None:
                claimed = uow.claim(key_claim)
                if claimed is not None:
                    if claimed.fingerprint != fingerprint:
                        raise RefusedByRule(
                            "this Idempotency-Key was already used for a different payment; use a new key",
                            "Idempotency-Key",
                            "idempotency_key_reused",
                        )
                    return PaymentResult(claimed.payment_id, claimed.person_id, claimed.person_version, True)
            if txn_claim is not None:
                claimed = uow.claim(txn_claim)
                if claimed is not None:
                    raise AlreadyRecorded(
                        f"transaction {transaction_id} is already recorded as payment {claimed.payment_id}",
                        claimed.payment_id,
                        claimed.person_id,
                    )
            person = self._registered(uow, id_number, document_type, serving=True)
            self._payable(person, year, amount_fen, paid_at, channel, repair_year)
            payment_id = secrets.token_hex(16)
            uow.emit(
                person,
                ev.PaymentRecorded,
                paid_at,
                year=year,
                payment_id=payment_id,
                amount_fen=amount_fen,
                paid_at=paid_at,
                channel=channel,
                receipt_no=receipt_no,
                transaction_id=transaction_id,
                idempotency_key=idempotency_key,
                repair_year=repair_year,
            )
            if key_claim is not None:
                uow.emit_claim(
                    key_claim, ev.IdempotencyKeyClaimed, key=idempotency_key, fingerprint=fingerprint,
                    person_id=person.id, payment_id=payment_id, person_version=person.version,
                )
            if txn_claim is not None:
                uow.emit_claim(
                    txn_claim, ev.TransactionIdClaimed, transaction_id=transaction_id,
                    person_id=person.id, payment_id=payment_id, person_version=person.version,
                )
            if repair_year is None:
                self._decide_waivers_resting_on(uow, person, year)
            view = enrollment_view(person, year) if with_view else None
            return PaymentResult(payment_id, person.id, person.version, False, view)

        return self._run(actor, decide)

    @staticmethod
    def _payable(person: Person, year: int, amount_fen: int, paid_at: datetime, channel: str,
                 repair_year: int | None) -> None:
        """Refuses a payment the person's enrollment cannot take: not enrolled, cancelled, a channel or
        a date the policy refuses, more than is outstanding."""
        enrollment = person.enrollments.get(year)
        if enrollment is None:
            raise Conflict(f"the person is not enrolled for {year}: enroll first", "year", "enrolled")
        if enrollment.cancellation is not None:
            raise Conflict(f"the {year} enrollment was cancelled", "year", "cancelled")
        policy = policy_by_id(enrollment.policy_id)
        if channel == "cash" and policy.collection.cash == "refused":
            raise RefusedByRule(f"policy {policy.id} takes no cash ({policy.collection.cash_source})", "channel",
                                "cash_refused")
        paid_on = china_date(paid_at)
        not_before(paid_on, person.birth_date, "paid_at", "the person's birth")
        within_season(paid_on, *payment_season(policy, enrollment.cohort), "paid_at", policy.id)
        if repair_year is not None:
            check_repair(policy, person, enrollment, repair_year, amount_fen)
            return
        check_payment_date(policy, enrollment.cohort, paid_on)
        outstanding = outstanding_fen(enrollment, paid_on)
        if outstanding == 0:
            raise RefusedByRule(f"nothing is outstanding for {year}: already fully paid", "amount", "over_payment")
        if amount_fen > outstanding:
            raise RefusedByRule(f"{yuan(amount_fen)} is more than the outstanding {yuan(outstanding)}", "amount",
                                "over_payment")

    def move_payment(
        self, actor: Actor, *, id_number: str, payment_id: str, reason: str, to_id_number: str | None = None,
        to_year: int | None = None, document_type: str = "resident_id", to_document_type: str = "resident_id",
    ) -> tuple[Person, str, int, int]:
        """A payment posted to the wrong person or year: voided where it is and recorded where it
        belongs, in one transaction, with its day, amount, channel, receipt and collection point, and
        the target's rules checked as for any payment. Returns the target, the new payment id, its
        year, and the year it was posted to."""
        reason = clean_text(reason, "reason")
        if to_id_number is None and to_year is None:
            raise InvalidInput("name where the payment belongs: to_id_number, to_year or both", "to_year", "move_target")
        if to_year is not None and (not isinstance(to_year, int) or not 2000 <= to_year <= 2100):
            raise InvalidInput("must be a coverage year such as 2021", "to_year", "year")

        def decide(uow: UnitOfWork) -> tuple[Person, str, int, int]:
            person = self._registered(uow, id_number, document_type)
            found = [(y, e.payments[payment_id]) for y, e in person.enrollments.items() if payment_id in e.payments]
            if not found:
                voided = [v for e in person.enrollments.values() for v in e.voided if v.payment_id == payment_id]
                if voided:
                    raise Conflict(f"payment {payment_id} is voided already: {voided[0].reason}", "payment_id",
                                   "payment_voided")
                raise NotFound(f"no payment {payment_id} of this year's contribution is recorded for this person",
                               "payment_id", "payment_exists")
            year, payment = found[0]
            target = self._registered(uow, to_id_number, to_document_type, serving=True) if to_id_number else person
            target_year = to_year if to_year is not None else year
            if target.id == person.id and target_year == year:
                raise InvalidInput("is where the payment is already", "to_year" if to_year else "to_id_number",
                                   "move_target")
            where = f"{mask(target.id_number)} for {target_year}"
            uow.emit(person, ev.PaymentVoided, self.clock(), year=year, payment_id=payment_id,
                     corrects=payment.originator_version, reason=f"moved to {where}: {reason}")
            self._payable(target, target_year, payment.amount_fen, payment.paid_at, payment.channel, None)
            new_id = secrets.token_hex(16)
            uow.emit(target, ev.PaymentRecorded, payment.paid_at, year=target_year, payment_id=new_id,
                     amount_fen=payment.amount_fen, paid_at=payment.paid_at, channel=payment.channel,
                     receipt_no=payment.receipt_no, transaction_id=payment.transaction_id,
                     collection_point=payment.collection_point,
                     moved_from=f"{mask(person.id_number)} for {year}, payment {payment_id}: {reason}")
            self._decide_waivers_resting_on(uow, target, target_year)
            return target, new_id, target_year, year

        return self._run(actor, decide)

    def void_payment(
        self, actor: Actor, *, id_number: str, payment_id: str, reason: str, year: int | None = None,
        document_type: str = "resident_id",
    ) -> int:
        """A correction: the payment was posted in error. The original event stays; this references it.

        Returns the coverage year the payment belonged to."""
        reason = clean_text(reason, "reason")

        def decide(uow: UnitOfWork) -> int:
            person = self._registered(uow, id_number, document_type)
            found = [
                (y, e.payments.get(payment_id) or e.repairs[payment_id])
                for y, e in person.enrollments.items()
                if (payment_id in e.payments or payment_id in e.repairs) and (year is None or y == year)
            ]
            if not found:
                raise NotFound(f"no payment {payment_id} is recorded for this person", "payment_id", "payment_exists")
            paid_year, payment = found[0]
            uow.emit(
                person, ev.PaymentVoided, self.clock(), year=paid_year, payment_id=payment_id,
                corrects=payment.originator_version, reason=reason,
            )
            return paid_year

        return self._run(actor, decide)

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

    # -- queries ------------------------------------------------------------------------------
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

