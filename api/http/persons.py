"""Persons: registration, identity categories, cover held elsewhere, coverage and history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api import problems
from api.http.deps import BUREAU, READERS, WRITERS, TheLedger, Who, allow, person_readable
from api.schemas import (
    CategoriesOut, ClaimsYear, ClaimsYearOut, Correction, CorrectionOut, CoverageElsewhere, CoverageElsewhereOut,
    CoverageOut, Day, Departure, DepartureOut, HistoryOut, IdentityChange, IdentityRetraction, Moment, PersonOut,
    RegisterPerson,
)
from api.services.log import proven_events
from api.services.persons import history_row, person_out
from api.state import log_of, read_by
from domain.categories import chinese_name
from domain.dates import china_date
from domain.idnumber import mask
from domain.ledger import Ledger
from domain.person import Person

router = APIRouter()
responses = problems.PROBLEM_RESPONSES


@router.post("/v1/persons", status_code=201, response_model=PersonOut, tags=["writes"],
             responses={200: {"model": PersonOut, "description": "the identical registration again"},
                        **{s: responses[s] for s in (403, 409, 413, 422)}})
def register(body: RegisterPerson, who: Who, ledger: TheLedger, response: Response) -> dict[str, Any]:
    """Register (or confirm) a person."""
    allow(who, WRITERS, "register persons")
    person, created = ledger.register(who.actor, **body.model_dump())
    response.status_code = 201 if created else 200
    return person_out(person)


@router.post("/v1/persons/{id_number}/corrections", status_code=201, response_model=CorrectionOut, tags=["writes"],
             responses={s: responses[s] for s in (403, 404, 413)})
def correction(id_number: str, body: Correction, who: Who, ledger: TheLedger,
               document_type: str = "resident_id") -> dict[str, Any]:
    """Correct a registration (bureau): a name, a village, a 落户 date, a newborn's parents. The
    original stays in the history; the correction names it. A newborn's fee waiver is decided again."""
    allow(who, BUREAU, "correct registrations")
    person = ledger.correct_registration(who.actor, id_number=id_number, document_type=document_type,
                                         **body.model_dump())
    return {**person_out(person), "hukou_registered_on": person.hukou_registered_on,
            "mother_id_number": mask(person.mother_id_number) if person.mother_id_number else None,
            "father_id_number": mask(person.father_id_number) if person.father_id_number else None,
            "enrollments": [ledger.coverage_of(person, y).to_api() for y in sorted(person.enrollments)]}


@router.post("/v1/persons/{id_number}/identities", status_code=201, response_model=CategoriesOut, tags=["writes"],
             responses={s: responses[s] for s in (403, 404, 409, 413)})
def identities(id_number: str, body: IdentityChange, who: Who, ledger: TheLedger,
               document_type: str = "resident_id") -> dict[str, Any]:
    """Certify or end an identity category (bureau)."""
    allow(who, BUREAU, "change identity categories")
    person = ledger.change_identity(who.actor, id_number=id_number, document_type=document_type, **body.model_dump())
    return _categories(ledger, person)


@router.post("/v1/persons/{id_number}/identities/retraction", status_code=201, response_model=CategoriesOut,
             tags=["writes"], responses={s: responses[s] for s in (403, 404, 409, 413)})
def identity_retraction(id_number: str, body: IdentityRetraction, who: Who, ledger: TheLedger,
                        document_type: str = "resident_id") -> dict[str, Any]:
    """Retract a certification recorded in error (bureau): the category was never held, and the
    subsidy or fee waiver decided on it is decided again."""
    allow(who, BUREAU, "correct identity categories")
    person = ledger.retract_identity(who.actor, id_number=id_number, document_type=document_type, **body.model_dump())
    return _categories(ledger, person)


def _categories(ledger: Ledger, person: Person) -> dict[str, Any]:
    today = china_date(ledger.clock())
    held = [s for s in person.categories if s.ended_on is None or s.ended_on > today]
    return {"id_number": person.id_number, "categories": [
        {"category": s.category, "name": chinese_name(s.category), "since": s.certified_on, "department": s.department}
        for s in held
    ]}


@router.post("/v1/persons/{id_number}/prior-coverage", status_code=201, response_model=CoverageElsewhereOut,
             response_model_by_alias=True, tags=["writes"],
             responses={200: {"model": CoverageElsewhereOut, "description": "the same fact again, unchanged"},
                        **{s: responses[s] for s in (403, 404, 409, 413)}})
def coverage_elsewhere(id_number: str, body: CoverageElsewhere, who: Who, ledger: TheLedger, response: Response,
                       document_type: str = "resident_id") -> dict[str, Any]:
    """Record cover held elsewhere (职工医保, another 统筹区) or before the ledger held the person
    (bureau): an enrollment overlapping it is refused (不得重复参保), it is a refund ground, and the
    person is not 应保未保 while it lasts."""
    allow(who, BUREAU, "record cover held elsewhere")
    person, created = ledger.record_coverage_elsewhere(
        who.actor, id_number=id_number, document_type=document_type, scheme=body.scheme, region=body.region,
        from_on=body.from_, to_on=body.to, source=body.source, evidence=body.evidence)
    response.status_code = 201 if created else 200
    return {"id_number": person.id_number, "coverage_elsewhere": [
        {"scheme": c.scheme, "region": c.region, "from_": c.from_on, "to": c.to_on, "source": c.source,
         "evidence": c.evidence, "recorded_at": c.recorded_at.isoformat()} for c in person.elsewhere]}


@router.post("/v1/persons/{id_number}/departure", status_code=201, response_model=DepartureOut, tags=["writes"],
             responses={200: {"model": DepartureOut, "description": "the same fact again, unchanged"},
                        **{s: responses[s] for s in (403, 404, 409, 413)}})
def departure(id_number: str, body: Departure, who: Who, ledger: TheLedger, response: Response,
              document_type: str = "resident_id") -> dict[str, Any]:
    """Record that the person died, moved away or joined the employee scheme (bureau). Cover ends
    after that day; every enrollment running past it ends with it, refunded as the policy allows;
    subsidies spent stay in the funders' totals; the person is not 应保未保 from then on."""
    allow(who, BUREAU, "record a death or departure")
    person, years, created = ledger.record_departure(who.actor, id_number=id_number, document_type=document_type,
                                                     **body.model_dump())
    response.status_code = 201 if created else 200
    left = person.left
    assert left is not None
    return {"id_number": person.id_number, "reason": left.reason, "left_on": left.left_on.isoformat(),
            "source": left.source, "enrollments_ended": [ledger.coverage_of(person, y).to_api() for y in years]}


@router.post("/v1/persons/{id_number}/claims-years", status_code=201, response_model=ClaimsYearOut, tags=["writes"],
             responses={200: {"model": ClaimsYearOut, "description": "the same fact again, unchanged"},
                        **{s: responses[s] for s in (403, 404, 409, 413)}})
def claims_year(id_number: str, body: ClaimsYear, who: Who, ledger: TheLedger, response: Response,
                document_type: str = "resident_id") -> dict[str, Any]:
    """Record a year's claims from the claims system (bureau): whether the fund reimbursed anything
    and whether the 大病保险 reward was used; they decide the zero-claim incentive."""
    allow(who, BUREAU, "record claims years")
    person, created = ledger.record_claims_year(who.actor, id_number=id_number, document_type=document_type,
                                                **body.model_dump())
    response.status_code = 201 if created else 200
    return {"id_number": person.id_number, "claims": [
        {"year": c.year, "reimbursed": c.reimbursed, "reward_used": c.reward_used, "source": c.source}
        for _, c in sorted(person.claims.items())]}


@router.get("/v1/persons/{id_number}/coverage", response_model=CoverageOut, response_model_exclude_none=False,
            tags=["reads"], responses={s: responses[s] for s in (403, 404)})
def coverage(request: Request, id_number: str, who: Who, ledger: TheLedger,
             year: Annotated[int, Query(ge=2000, le=2100)],
             on: Annotated[Day | None, Query(description="the date tested against the benefit period, "
                                             "computed from everything known at known_at")] = None,
             as_of: Annotated[Day | None, Query(description="the answer as things stood on this date: "
                                                "facts that took effect after it left out")] = None,
             known_at: Moment | None = None, document_type: str = "resident_id") -> dict[str, Any]:
    """The enrollment as the ledger knew it at `known_at` (default now): covered, not covered or
    undetermined, on the date `on` when given."""
    allow(who, READERS, "read coverage")
    person = ledger.person(id_number, as_of=as_of, known_at=known_at, document_type=document_type)
    person_readable(who, person)
    read_by(request, who, "coverage", f"{mask(person.id_number)} year {year}", person.region)
    return ledger.coverage_of(person, year, on=on, as_of=as_of, known_at=known_at).answer(on)


@router.get("/v1/persons/{id_number}/history", response_model=HistoryOut, tags=["reads"],
            responses={s: responses[s] for s in (403, 404)})
def history(request: Request, id_number: str, who: Who, ledger: TheLedger, known_at: Moment | None = None,
            document_type: str = "resident_id", with_proofs: bool = False) -> dict[str, Any]:
    """Every event about the person, oldest first, with who recorded it, when and where. With
    `with_proofs` (auditor, admin), each event's leaf in the verifiable log and its inclusion proof
    against the signed checkpoint the answer carries."""
    allow(who, READERS, "read history")
    if with_proofs:
        allow(who, ("auditor", "admin"), "read log proofs")
    person = ledger.person(id_number, document_type=document_type)
    person_readable(who, person)
    read_by(request, who, "history_with_proofs" if with_proofs else "history", mask(person.id_number), person.region)
    pid, events = ledger.events_of(id_number, document_type)
    shown = [e for e in events if known_at is None or e.recorded_at <= known_at]
    rows = [history_row(e) for e in shown]
    if not with_proofs:
        return {"events": rows}
    checkpoint, proofs = proven_events(log_of(request), ledger, pid, [e.originator_version for e in shown])
    for row, proof in zip(rows, proofs, strict=True):
        row.update(proof)
    return {"events": rows, "checkpoint": checkpoint}
