"""The person page's correction forms (更正, 注销): each form's fields read as the API reads its
body, then the same ledger command. A field left empty is not corrected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any
from uuid import UUID

from api.console.fields import day
from domain.categories import chinese_name
from domain.dates import china_date
from domain.errors import InvalidInput, NotFound
from domain.ledger import DEPARTURES, Actor, Ledger
from domain.money import yuan
from domain.person import Person, fold

def person_of(ledger: Ledger, pid: UUID) -> Person:
    person = fold(pid, ledger.store.events.get(pid))
    if person.registration is None:
        raise NotFound("no person at this address", "person", "person_exists")
    return person


def _text(form: Any, field: str) -> str | None:
    value = form.get(field)
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def _day(form: Any, field: str) -> date | None:
    return day(_text(form, field), field)


def _year(form: Any, field: str) -> int | None:
    value = _text(form, field)
    if value is None:
        return None
    if not value.isdigit() or not 2000 <= int(value) <= 2100:
        raise InvalidInput("must be a coverage year from 2000 to 2100", field, "year")
    return int(value)


def _required(form: Any, field: str, what: str) -> str:
    value = _text(form, field)
    if value is None:
        raise InvalidInput(f"is required: {what}", field, "required")
    return value


def _who(person: Person) -> dict[str, str]:
    assert person.registration is not None
    return {"id_number": person.id_number, "document_type": person.registration.document_type}


def correct(ledger: Ledger, actor: Actor, person: Person, form: Any) -> None:
    ledger.correct_registration(
        actor, **_who(person), reason=_required(form, "reason", "why the registration is corrected"),
        name=_text(form, "name"), region=_text(form, "region"),
        hukou_registered_on=_day(form, "hukou_registered_on"), birth_date=_day(form, "birth_date"),
        mother_id_number=_text(form, "mother_id_number"), father_id_number=_text(form, "father_id_number"))


def retract(ledger: Ledger, actor: Actor, person: Person, form: Any) -> None:
    ledger.retract_identity(actor, **_who(person), category=_required(form, "category", "the category recorded in error"),
                            reason=_required(form, "reason", "why it was recorded in error"))


def move(ledger: Ledger, actor: Actor, person: Person, form: Any) -> None:
    ledger.move_payment(actor, **_who(person), payment_id=_required(form, "payment_id", "the payment to move"),
                        reason=_required(form, "reason", "why the payment is moved"),
                        to_id_number=_text(form, "to_id_number"), to_year=_year(form, "to_year"))


def depart(ledger: Ledger, actor: Actor, person: Person, form: Any) -> None:
    reason = _required(form, "reason", "death, moved or employee_insurance")
    left_on = _day(form, "left_on")
    if left_on is None:
        raise InvalidInput("is required: the day of death or of leaving", "left_on", "required")
    ledger.record_departure(actor, **_who(person), reason=reason, left_on=left_on,
                            source=_required(form, "source", "what says so: 户籍注销, a death certificate"))


ACTIONS: dict[str, Callable[[Ledger, Actor, Person, Any], None]] = {
    "correct": correct, "retract": retract, "move": move, "depart": depart}


def choices(person: Person) -> dict[str, Any]:
    """What the forms offer to pick from: the categories held or once held (not retracted), the
    payments standing, and whether the document carries the birth date."""
    assert person.registration is not None
    payments = [{"payment_id": p.payment_id, "year": year, "amount": yuan(p.amount_fen),
                 "paid_on": china_date(p.paid_at).isoformat(), "channel": p.channel}
                for year, e in sorted(person.enrollments.items()) for p in e.collected()]
    categories = [(c, chinese_name(c)) for c in sorted({s.category for s in person.categories})]
    return {"categories": categories, "payments": payments,
            "birth_date_correctable": person.registration.document_type != "resident_id",
            "departures": DEPARTURES, "left": person.left}
