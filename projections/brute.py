"""The reports' figures by brute force: every person folded as of D, as known at T, then counted.

Exact by definition and slow by design (a full scan of the log): the reference the projection's
queries (projections/queries.py) are tested against.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from typing import Any

from domain.coverage import CoverageView, enrollment_view
from domain.dates import china_date, rest_of_year
from domain.idnumber import mask
from domain.person import Person
from domain.policy import policy_by_id
from projections.assisted import is_assisted
from projections.enrollment import awaiting_amount
from projections.totals import child_level


class PeopleSource:
    def __init__(self, people: list[Person]):
        self.people = people

    def _in(self, region: str) -> list[Person]:
        return [p for p in self.people if p.region.startswith(region)]

    def enrollment_counts(self, region: str, width: int, year: int, on: date) -> dict[str, Counter[str]]:
        counts: dict[str, Counter[str]] = {}
        for person in self._in(region):
            view = enrollment_view(person, year, on)
            enrolled = view.enrolled
            paid = view.status == "paid"
            # Insured elsewhere over the rest of the year and not paid here: not 应保 (SPEC Decision 15).
            assisted = person.left is None and is_assisted(person.region, year, person.categories_held(on)) and (
                paid or not person.elsewhere_during(*rest_of_year(on, year)))
            figures = {"enrolled": int(enrolled), "paid": int(paid), "covered": int(view.covered_on(on)),
                       "undetermined": int(view.is_undetermined), "assisted": int(assisted),
                       "payable_undetermined": int(view.owed_unknown),
                       "assisted_enrolled": int(assisted and paid)}
            if any(figures.values()) or year in person.enrollments:
                counts.setdefault(person.region[:width], Counter()).update(figures)
        return counts

    def subsidy_groups(self, region: str, year: int, on: date) -> tuple[dict[tuple[str, str], list[int]], dict[str, str]]:
        groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        names: dict[str, str] = {}
        for person in self._in(region):
            view = enrollment_view(person, year, on)
            awaiting_amount(groups, names, person, view)
            if not view.subsidy_spent:
                continue
            # Funder codes repeat across regions with different departments: name them from the policy.
            names[view.subsidy.funder] = policy_by_id(view.policy).funders.get(view.subsidy.funder, view.subsidy.funder)
            entry = groups[(view.subsidy.funder, view.subsidy.category)]
            entry[0] += 1
            entry[1] += view.subsidy.amount_fen
        return groups, names

    def payment_groups(self, region: str, year: int, on: date) -> dict[tuple[str, str, str], list[Any]]:
        groups: dict[tuple[str, str, str], list[Any]] = defaultdict(lambda: [0, 0, []])
        for person in self._in(region):
            if year not in person.enrollments:
                continue
            for p in person.enrollments[year].collected():
                entry = groups[(china_date(p.paid_at).isoformat(), p.channel, p.collection_point or "")]
                entry[0] += 1
                entry[1] += p.amount_fen
                if p.channel == "cash":
                    entry[2].append(p.receipt_no or "")
        return groups

    def channel_groups(self, region: str, year: int, on: date) -> dict[tuple[str, str], list[int]]:
        width = child_level(region)
        groups: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        for person in self._in(region):
            if year not in person.enrollments:
                continue
            for p in person.enrollments[year].collected():
                entry = groups[(person.region[:width], p.channel)]
                entry[0] += 1
                entry[1] += p.amount_fen
        return groups

    def unenrolled_assisted(self, region: str, year: int, on: date) -> list[tuple[str, str, str, str, str]]:
        found = []
        for person in self._in(region):
            held = person.categories_held(on)
            view = enrollment_view(person, year, on)
            if (person.left is None and is_assisted(person.region, year, held) and view.status != "paid"
                    and not person.elsewhere_during(*rest_of_year(on, year))):
                found.append((person.region, mask(person.id_number), person.name, " ".join(sorted(held)),
                              "enrolled_unpaid" if view.enrolled else "not_enrolled"))
        return found

    def payable(self, region: str, year: int, on: date) -> list[tuple[Person, CoverageView]]:
        views = ((person, enrollment_view(person, year, on, explain=False)) for person in self._in(region))
        return [(person, view) for person, view in views if view.enrolled]
