"""Subsidies by funder, collections by channel, assisted persons not enrolled: as of a date, as
known at a time, from persons folded that way (the same exact basis as the enrollment report).
REPORTS names all four reports, the enrollment report included, for the API and the CLI."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

from domain.categories import chinese_name
from domain.coverage import enrollment_view
from domain.dates import china_date
from domain.idnumber import mask
from domain.money import yuan
from domain.person import Person
from domain.policy import policy_by_id
from projections.enrollment import COLUMNS as ENROLLMENT_COLUMNS
from projections.enrollment import enrollment_report
from projections.reference import region_name

SUBSIDY_COLUMNS = ["funder", "funder_name", "category", "category_name", "persons", "amount"]
COLLECTION_COLUMNS = ["day", "channel", "collection_point", "payments", "amount", "cash_receipts"]
UNENROLLED_COLUMNS = ["village", "village_name", "id_number", "name", "categories"]


def subsidies_report(people: Iterable[Person], region: str, year: int, on: date) -> dict[str, Any]:
    """Persons and amounts per funder and category, for enrollments not cancelled on the date."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    funders: dict[str, str] = {}
    for person in people:
        if not person.region.startswith(region):
            continue
        view = enrollment_view(person, year, on)
        if view.subsidy is None or view.status in ("not_enrolled", "cancelled"):
            continue
        # Funder codes repeat across regions with different departments: name them from the policy.
        funders[view.subsidy.funder] = policy_by_id(view.policy).funders.get(view.subsidy.funder, view.subsidy.funder)
        entry = groups[(view.subsidy.funder, view.subsidy.category)]
        entry[0] += 1
        entry[1] += view.subsidy.amount_fen
    rows = [
        {"funder": f, "funder_name": funders.get(f, f), "category": c, "category_name": chinese_name(c),
         "persons": n, "amount": yuan(fen)}
        for (f, c), (n, fen) in sorted(groups.items())
    ]
    total = {"funder": "total", "funder_name": "", "category": "", "category_name": "",
             "persons": sum(n for n, _ in groups.values()), "amount": yuan(sum(fen for _, fen in groups.values()))}
    return {"region": region, "year": year, "as_of": on.isoformat(), "rows": rows, "total": total, "warnings": []}


def collections_report(people: Iterable[Person], region: str, year: int, on: date) -> dict[str, Any]:
    """Payments per day, channel and collection point, with the cash receipts listed."""
    groups: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, 0, []])
    for person in people:
        if not person.region.startswith(region) or year not in person.enrollments:
            continue
        for p in person.enrollments[year].payments.values():
            entry = groups[(china_date(p.paid_at).isoformat(), p.channel, p.collection_point or "")]
            entry[0] += 1
            entry[1] += p.amount_fen
            if p.channel == "cash":
                entry[2].append(p.receipt_no or "")
    rows = [
        {"day": d, "channel": ch, "collection_point": pt, "payments": n, "amount": yuan(fen),
         "cash_receipts": " ".join(sorted(receipts))}
        for (d, ch, pt), (n, fen, receipts) in sorted(groups.items())
    ]
    total = {"day": "total", "channel": "", "collection_point": "", "payments": sum(r["payments"] for r in rows),
             "amount": yuan(sum(e[1] for e in groups.values())), "cash_receipts": ""}
    return {"region": region, "year": year, "as_of": on.isoformat(), "rows": rows, "total": total, "warnings": []}


def unenrolled_assisted_report(people: Iterable[Person], region: str, year: int, on: date) -> dict[str, Any]:
    """应保未保: persons holding any certified category on the date, not enrolled for the year, by village."""
    rows = []
    for person in people:
        if not person.region.startswith(region):
            continue
        held = person.categories_held(on)
        if not held or enrollment_view(person, year, on).status not in ("not_enrolled", "cancelled"):
            continue
        rows.append({"village": person.region, "village_name": region_name(person.region), "id_number": mask(person.id_number),
                     "name": person.name, "categories": " ".join(sorted(held))})
    rows.sort(key=lambda r: (r["village"], r["id_number"]))
    return {"region": region, "year": year, "as_of": on.isoformat(), "rows": rows, "warnings": []}


REPORTS = {
    "enrollment": (enrollment_report, ENROLLMENT_COLUMNS),
    "subsidies": (subsidies_report, SUBSIDY_COLUMNS),
    "collections": (collections_report, COLLECTION_COLUMNS),
    "unenrolled-assisted": (unenrolled_assisted_report, UNENROLLED_COLUMNS),
}
