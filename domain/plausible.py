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

from domain.errors import InvalidInput, RefusedByRule

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
