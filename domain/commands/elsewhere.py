"""Facts held elsewhere: cover in another scheme or region (the national 全民参保 database's
extract), and claims years (for the 大病保险 incentives)."""

from __future__ import annotations

import re
from datetime import date

from domain import events as ev
from domain.actor import Actor
from domain.dates import at_china_midnight, china_date
from domain.errors import Conflict, InvalidInput
from domain.person import Person
from domain.plausible import not_after, not_before
from domain.policy import policy_by_id
from domain.text import clean_text, optional_text
from domain.unit_of_work import UnitOfWork

SCHEMES = ("employee", "resident")  # 职工医保, 城乡居民医保
_DIVISION = re.compile(r"[0-9]{6}(?:[0-9]{3})?(?:[0-9]{3})?")


class ElsewhereCommands:
    """Commands recording what the ledger learns from elsewhere (domain/ledger.py runs them)."""

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
