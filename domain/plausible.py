"""The range in which each business date is believable.

A date outside it is a typing or clock error, never a fact to record: a payment "in 1970" would
cover a whole year that the region's rules refuse, and one "in 2099" could never be corrected
into the past. The ranges, each checked where the date enters the ledger:
- nothing about a person before their birth;
- nothing that has happened yet in the future: a payment at most CLOCK_SKEW ahead of the
  ledger's clock (a collection point's clock may run a little fast), a day at most today in China;
- a payment within its coverage year's collection season (rules.payment_season): not before the
  window opens, not after the coverage year ends (a newborn's days later);
- an enrollment, and the end of one, not before 1 January of the year before its coverage year
  (no window opens earlier), and a cancellation not after its coverage ends;
- an identity category's start or end not more than a year ahead (a department may certify from
  the next 1 January).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from domain.dates import china_date
from domain.errors import InvalidInput, RefusedByRule

if TYPE_CHECKING:
    from domain.person import Person

CLOCK_SKEW = timedelta(minutes=5)
IDENTITY_AHEAD = timedelta(days=366)


def not_before(day: date, earliest: date, field: str, why: str) -> None:
    if day < earliest:
        raise InvalidInput(f"{day} is before {why} ({earliest})", field, "date_range")


def not_after(day: date, latest: date, field: str, why: str) -> None:
    if day > latest:
        raise InvalidInput(f"{day} is after {why} ({latest})", field, "date_range")


def within_season(day: date, first: date, last: date, field: str, policy_id: str) -> None:
    """A payment outside its season is refused by the policy's rule, not as malformed input."""
    if day < first:
        raise RefusedByRule(
            f"{day} is before policy {policy_id}'s collection window opens ({first})", field, "payment_season"
        )
    if day > last:
        raise RefusedByRule(
            f"{day} is after the coverage this payment is for has ended ({last}, policy {policy_id})",
            field,
            "payment_season",
        )


def recorded_after_birth(person: Person, born: date, hukou_corrected: bool = False) -> None:
    """A birth date corrected must not put anything already recorded of the person before it: an
    enrollment, a payment, a category, cover elsewhere, 落户, a departure. Each is named, so the
    bureau can see which record is the wrong one."""
    facts: list[tuple[date, str]] = []
    if person.hukou_registered_on is not None and not hukou_corrected:
        facts.append((person.hukou_registered_on, "the 落户 date"))
    for year, e in sorted(person.enrollments.items()):
        facts.append((e.enrolled_on, f"the enrollment for {year}"))
        facts.extend((china_date(p.paid_at), f"payment {p.payment_id}") for p in e.collected())
    facts.extend((s.certified_on, f"the {s.category} certification") for s in person.categories)
    facts.extend((c.from_on, "the cover elsewhere recorded") for c in person.elsewhere)
    if person.left is not None:
        facts.append((person.left.left_on, f"the departure ({person.left.reason})"))
    for day, what in facts:
        if day < born:
            raise InvalidInput(f"{born} is after {what} ({day}), already recorded: a person has nothing before"
                               " their birth; correct that record first, or check the birth date", "birth_date",
                               "date_range")
