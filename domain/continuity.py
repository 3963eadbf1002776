"""连续参保: the waiting periods of 国办发〔2024〕38号 from a person's whole enrollment history.

«自2025年起，除新生儿等特殊群体外，对未在居民医保集中参保期内参保或未连续参保的人员，设置参保后固定待遇
等待期3个月；其中，未连续参保的，每多断保1年，原则上在固定待遇等待期基础上增加变动待遇等待期1个月。参保人
可通过缴费修复变动待遇等待期，每多缴纳1年可减少1个月变动待遇等待期。连续断保4年及以上的，修复后固定待遇
等待期和变动待遇等待期之和原则上不少于6个月。»

The policy says how its region reads each clause (domain/policy.py, Continuity); this module
finds the person's facts the clauses need (gap years, repaired years, an exemption) and
domain/rules.py turns them into a benefit start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from domain.categories import chinese_name
from domain.dates import after_full_months, within_days
from domain.errors import LedgerError
from domain.person import Enrollment, Person
from domain.owed import outstanding_fen
from domain.policy import Continuity, Policy


@dataclass(frozen=True, slots=True)
class History:
    """What a year's waiting period depends on: hashable, so benefit periods can be remembered."""

    gap_years: tuple[int, ...]  # the break just before this year: consecutive years with no cover at all
    repaired_years: tuple[int, ...]  # gap years paid for since (修复)
    exempt: str | None  # why no months apply to this person, if a listed exemption does


def insured_in(person: Person, year: int, schemes: tuple[str, ...] = ("resident", "employee")) -> bool:
    """Whether the person had cover of `schemes` on any day of `year`: a fully paid enrollment in the
    ledger not cancelled before it began, or cover recorded from elsewhere (another 统筹区, 职工医保,
    years before the ledger). Any day counts: 断保1年 is a whole year without cover."""
    e = person.enrollments.get(year)
    if e is not None and _paid_in_full(e) and (e.cancellation is None or e.cancellation.effective_on >= date(year, 1, 1)):
        return True
    return any(c.scheme in schemes for c in person.elsewhere_during(date(year, 1, 1), date(year, 12, 31)))


def _paid_in_full(e: Enrollment) -> bool:
    try:
        return outstanding_fen(e) == 0 and (bool(e.payments) or e.fee_waived is not None or e.subsidy is not None)
    except LedgerError:
        return False  # a year whose contribution no source states: not known to be paid


def repaired_years(person: Person) -> set[int]:
    return {r.repair_year for e in person.enrollments.values() for r in e.repairs.values() if r.repair_year is not None}


def gap_years(person: Person, rules: Continuity, year: int) -> list[int]:
    """The years of the break that ends with `year` (连续断保): the run of years without cover just
    before it, back to the counting start. A break that is over stops counting: a person
    re-enrolled after one and insured since waits nothing for it. A year the person was born in is
    not a gap: nobody could have enrolled them for all of it."""
    first = max(rules.counts_from, person.birth_date.year + 1)
    gaps: list[int] = []
    y = year - 1
    while y >= first and not insured_in(person, y):
        gaps.append(y)
        y -= 1
    return gaps[::-1]


def history(policy: Policy, person: Person, year: int, cohort: str, paid_on: date | None) -> History | None:
    """The facts the policy's continuity rules need for `year`, or None where it has none."""
    rules = policy.continuity
    if rules is None or paid_on is None or year < rules.counts_from:
        return None
    gaps = gap_years(person, rules, year)
    repaired = repaired_years(person)
    return History(tuple(gaps), tuple(y for y in gaps if y in repaired), _exemption(policy, person, cohort, paid_on))


def _exemption(policy: Policy, person: Person, cohort: str, paid_on: date) -> str | None:
    rules = policy.continuity
    assert rules is not None
    if cohort == "newborn" and "newborn" in rules.exempt_cohorts:
        # A newborn within the policy's newborn days (新生儿); later, the rules of everyone else.
        nb = policy.newborn
        anchor = person.birth_date if nb.anchor == "birth" else person.hukou_registered_on
        if anchor is not None and within_days(anchor, nb.within_days, paid_on):
            return f"a newborn paid within {nb.within_days} days is exempt ({rules.exemptions_source})"
    elif cohort in rules.exempt_cohorts:
        return f"the {cohort} cohort is exempt ({rules.exemptions_source})"
    for code in person.categories_held(paid_on):
        if code in rules.exempt_categories:
            return f"{code} ({chinese_name(code)}) held on {paid_on} is exempt ({rules.exemptions_source})"
    months = rules.exempt_after_employee_months
    if months is not None:
        for c in person.elsewhere:
            if c.scheme == "employee" and c.to_on is not None and c.to_on < paid_on < after_full_months(c.to_on, months):
                return (f"职工医保 ended on {c.to_on}, within {months} months before the payment on {paid_on}"
                        f" ({rules.exemptions_source})")
    return None


def counted_gap_years(rules: Continuity, gaps: int) -> int:
    """The gap years that add variable months, by the policy's formula (its `gap_formula` given)."""
    return max(gaps - 1 if rules.gap_formula == "gap_years_minus_one" else gaps, 0)


@dataclass(frozen=True, slots=True)
class Waiting:
    """The waiting period as the coverage answer gives it."""

    fixed_months: int
    variable_months: int
    anchor: str
    gap_years: int
    repaired_years: int

    @property
    def months(self) -> int:
        return self.fixed_months + self.variable_months

    def to_api(self) -> dict[str, object]:
        return {"fixed_months": self.fixed_months, "variable_months": self.variable_months, "anchor": self.anchor,
                "gap_years": self.gap_years, "repaired_years": self.repaired_years}


def waiting(rules: Continuity, facts: History, anchor: str) -> tuple[Waiting | None, list[str]]:
    """The months to wait and the sentences that gave them; None (with the reason as the last
    line) where the policy does not say how gap years count."""
    gaps, repaired = len(facts.gap_years), len(facts.repaired_years)
    lines = [f"fixed waiting period {rules.fixed_months} months ({rules.fixed_source})"]
    variable = 0
    if gaps and rules.gap_formula is None:
        lines.append(f"not insured in {', '.join(map(str, facts.gap_years))}: how gap years add months is not"
                     f" stated ({rules.gap_formula_source})")
        return None, lines
    if gaps:
        raw = counted_gap_years(rules, gaps) * rules.variable_months_per_gap_year
        formula = "gap years − 1" if rules.gap_formula == "gap_years_minus_one" else "gap years"
        variable = max(raw - repaired * rules.variable_months_per_gap_year, 0)
        years = ", ".join(map(str, facts.gap_years))
        lines.append(f"not insured in {years} ({gaps} gap year{'s' if gaps > 1 else ''}): variable waiting period"
                     f" {raw} month{'s' if raw != 1 else ''} ({formula}; {rules.gap_formula_source})")
        if repaired:
            less = raw - variable
            lines.append(f"repaired (修复) {', '.join(map(str, facts.repaired_years))}: {less} month"
                         f"{'s' if less != 1 else ''} less, variable {variable} ({rules.repair_source})")
        floor, after = rules.min_total_months, rules.min_total_after_gap_years
        if floor is not None and after is not None and gaps >= after and rules.fixed_months + variable < floor:
            variable = floor - rules.fixed_months
            lines.append(f"{gaps} consecutive gap years (连续断保), {after} or more: fixed and variable together no less"
                         f" than {floor} months ({rules.min_total_source})")
    return Waiting(rules.fixed_months, variable, anchor, gaps, repaired), lines
