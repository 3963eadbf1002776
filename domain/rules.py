"""The rule engine: reads a Policy and the person's facts, decides amounts and dates.

Nothing here touches storage; every function is pure so the rules can be tested one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, timedelta

from domain.categories import FACTS, chinese_name
from domain.continuity import History, Waiting, counted_gap_years, gap_years, insured_in, repaired_years, waiting
from domain.dates import after_full_days, after_full_months, first_of_month_after, first_of_next_month, within_days
from domain.errors import Conflict, InvalidInput, RefusedByRule
from domain.events import Candidate
from domain.money import yuan
from domain.person import Enrollment, Person
from domain.policy import _FORGET, Policy, Subsidy, amount_fen, band_for, policy_by_id


# -- subsidies --------------------------------------------------------------------------------


def subsidy_amount(policy: Policy, rule: Subsidy, tier: int, cohort: str) -> int | None:
    """What one category gives on a tier, capped at the contribution due (never more); None where
    the amount is set outside the notice."""
    if rule.set_elsewhere is not None:
        return None
    if rule.tiers is not None and tier not in rule.tiers:
        return 0
    if tier == 2 and rule.on_tier2 == "full_tier1":
        raw = policy.contribution_fen(1, cohort)
    elif tier == 2 and rule.on_tier2 == "full_tier2":
        raw = policy.contribution_fen(2, cohort)
    elif rule.amount is not None:
        raw = amount_fen(rule.amount)
    else:
        assert rule.percent is not None
        base = policy.contribution_fen(rule.percent_of_tier, "resident")
        raw = (base * rule.percent + 50) // 100  # half-up to the fen; exact for every notice here
    return min(raw, policy.contribution_fen(tier, cohort))


@dataclass(frozen=True)
class SubsidyDecision:
    category: str
    amount_fen: int
    funder: str
    candidates: list[Candidate]
    rule: str
    undetermined: str | None = None  # the amount is set outside the notice: what is owed is unknown


def _amount_unknown(rule: Subsidy, tier: int) -> str | None:
    """Why a category's amount on the tier is not known from the notice, or None where it is."""
    if rule.set_elsewhere is not None:
        return f"is subsidised by an amount set outside the notice ({rule.set_elsewhere})"
    if rule.tiers is not None and tier not in rule.tiers and rule.other_tiers == "unspecified":
        listed = ", ".join(str(t) for t in rule.tiers)
        return (f"is subsidised on tier {listed}, and the notice says nothing of a person of it choosing tier {tier}"
                f" ({rule.other_tiers_source})")
    return None


def decide_subsidy(
    policy: Policy, tier: int, cohort: str, held: list[str]
) -> SubsidyDecision | None:
    """Highest applies (就高不就低): the single largest amount for the chosen tier, never a sum.

    Equal amounts: the category listed first in the policy wins (SPEC Decision 5). A policy with
    highest_applies = false ranks its categories instead: the first one listed that the person
    holds and that gives something on the tier (still one subsidy, never a sum).
    """
    if policy.subsidies_unspecified is not None and any(c not in FACTS for c in held):
        why = (f"{', '.join(held)} held, and no source found states policy {policy.id}'s subsidies"
               f" ({policy.subsidies_unspecified})")
        return SubsidyDecision(held[0], 0, "", [], why, undetermined=why)
    candidates: list[Candidate] = []
    best: tuple[Subsidy, int] | None = None
    elsewhere: list[Subsidy] = []
    for rule in policy.subsidy:
        if rule.category not in held and not any(c in held for c in rule.includes):
            continue
        if _amount_unknown(rule, tier):
            elsewhere.append(rule)
            continue
        amount = subsidy_amount(policy, rule, tier, cohort)
        candidates.append(Candidate(rule.category, amount))
        if amount > 0 and (best is None or amount > best[1]):
            best = (rule, amount)
    contribution = policy.contribution_fen(tier, cohort)
    if not policy.highest_applies:
        first = next((r for r in policy.subsidy if (r.category in held or any(c in held for c in r.includes))
                      and (_amount_unknown(r, tier) or subsidy_amount(policy, r, tier, cohort))), None)
        if first is None:
            return None
        if not _amount_unknown(first, tier):
            amount = subsidy_amount(policy, first, tier, cohort)
            assert amount is not None
            return SubsidyDecision(first.category, amount, first.funder, candidates,
                                   f"{first.category}, listed first among the categories held, gives {yuan(amount)}"
                                   f" on tier {tier} (the policy ranks categories: highest_applies = false)")
        elsewhere, best = [first], None
    if elsewhere and (best is None or best[1] < contribution):
        # Highest applies, but one candidate's amount is set by rules the ledger does not hold: it
        # may be the highest. Undetermined, named, until a source gives the amount.
        rule = elsewhere[0]
        known = ", ".join(f"{c.category} {yuan(c.amount_fen)}" for c in candidates) or "no other category"
        why = f"{rule.category} {_amount_unknown(rule, tier)}; against {known}, the highest cannot be known"
        return SubsidyDecision(rule.category, 0, rule.funder, candidates, why, undetermined=why)
    if best is None:
        return None
    rule, amount = best
    others = ", ".join(f"{c.category} {yuan(c.amount_fen)}" for c in candidates)
    text = (
        f"highest applies among {others} on tier {tier}"
        if len(candidates) > 1
        else f"{rule.category} gives {yuan(amount)} on tier {tier}"
    )
    if rule.category not in held:
        member = next(c for c in rule.includes if c in held)
        text += f" ({member}, {chinese_name(member)}, is of the notice's group {rule.category}: {rule.includes_source})"
    return SubsidyDecision(rule.category, amount, rule.funder, candidates, text)


# -- payments and benefit periods ------------------------------------------------------------


def check_payment_date(policy: Policy, cohort: str, paid_on: date) -> None:
    """A region that allows no late payment refuses it (004: 不得补缴), newborns excepted."""
    band = band_for(policy, paid_on)
    if band.start != "refused":
        return
    if cohort == "newborn" and policy.newborn.exempt_from_window:
        return
    if cohort in policy.collection.window_exempt:
        return
    closes = policy.collection.closes
    raise RefusedByRule(
        f"late payment refused: policy {policy.id} takes no payment after the collection window"
        f" closed on {closes} ({policy.notice}: 集中缴费期后不得补缴)",
        "paid_at",
        "late_payment_refused",
    )


def check_repair(policy: Policy, person: Person, enrollment: Enrollment, repair_year: object, amount_fen: int) -> None:
    """修复: a payment for a missed year, made with this year's enrollment, at this year's individual
    contribution (「参照我市当年度个人缴费标准」), one payment per missed year."""
    rules = policy.continuity
    if rules is None or not rules.repair:
        raise RefusedByRule(f"policy {policy.id} takes no repair payments (修复): it states no such rule",
                            "repair_year", "repair_not_offered")
    if not isinstance(repair_year, int) or isinstance(repair_year, bool):
        raise InvalidInput("must be a coverage year such as 2025", "repair_year", "year")
    if not rules.counts_from <= repair_year < enrollment.year:
        raise RefusedByRule(
            f"{repair_year} cannot be repaired with the {enrollment.year} enrollment: policy {policy.id} counts"
            f" missed years from {rules.counts_from} to {enrollment.year - 1} ({rules.counts_from_source})",
            "repair_year", "repair_year_range")
    gaps = gap_years(person, rules, enrollment.year)
    if repair_year not in gaps:
        if repair_year <= person.birth_date.year:
            why = "it was not missed: the person was born that year or later"
        elif insured_in(person, repair_year):
            why = "it was not missed: the person was insured that year"
        else:
            why = ("it belongs to an earlier break, which ended when the person was insured again; only the"
                   " break that ends with this enrollment adds waiting months (连续断保)")
        raise RefusedByRule(f"{repair_year} cannot be repaired: {why}; only a missed year (断保年度) of the current"
                            " break can be", "repair_year", "repair_year_missed")
    for e in person.enrollments.values():
        for r in e.repairs.values():
            if r.repair_year == repair_year:
                raise Conflict(f"{repair_year} is already repaired, by payment {r.payment_id}", "repair_year",
                               "repair_year_repaired")
    if rules.gap_formula is not None:
        counted = counted_gap_years(rules, len(gaps))
        repaired = len(repaired_years(person) & set(gaps))
        if repaired >= counted:
            raise RefusedByRule(
                f"repairing {repair_year} would shorten no waiting period: {len(gaps)} gap year"
                f"{'s' if len(gaps) != 1 else ''} give {counted} variable month"
                f"{'s' if counted != 1 else ''} ({rules.gap_formula_source}), {repaired} already repaired",
                "repair_year", "repair_no_effect")
    price = policy.contribution_fen(enrollment.tier, enrollment.cohort)
    if amount_fen != price:
        raise RefusedByRule(
            f"a repair costs {yuan(price)}, the {enrollment.year} individual contribution for tier"
            f" {enrollment.tier} ({rules.repair_source}); {yuan(amount_fen)} was given", "amount", "repair_amount")


@dataclass
class Benefit:
    start: date | None = None
    end: date | None = None
    lines: list[str] = field(default_factory=list)
    undetermined: str | None = None
    waiting: Waiting | None = None


NO_HISTORY = History((), (), None)




def payment_season(policy: Policy, cohort: str) -> tuple[date, date]:
    """The days on which a payment for this policy's coverage can be dated: from the window's
    opening (a student's academic year may begin before it) to the end of the coverage year, or
    for a newborn the policy's newborn days after it (a baby born in late December pays in January)."""
    return _payment_season(policy.id, cohort)


@lru_cache(maxsize=1024)
def _payment_season(policy_id: str, cohort: str) -> tuple[date, date]:
    policy = policy_by_id(policy_id)  # the version in force: a payment is taken now
    # Where a policy does not say when its window opens (000 Qianjiang states no dates), no opening
    # is invented: a payment may be dated from 1 January of the year before, as an enrollment may.
    first = policy.collection.opens or date(policy.year - 1, 1, 1)
    start, end, _ = coverage_bounds(policy, cohort)
    # Never earlier than the coverage year's end: a student's academic-year end is inferred, not
    # stated (SPEC, 003), and an inferred date must not refuse a payment.
    last = max(end, date(policy.year, 12, 31))
    if cohort == "student":
        first = min(first, start)
    if cohort == "newborn":
        last += timedelta(days=policy.newborn.within_days)
    return first, last


_FORGET.append(_payment_season.cache_clear)


def check_student(policy: Policy, birth_date: date, school: str | None) -> None:
    """The student price is for the policy's group alone (003: 「在綦高校大学生」; 中小学生 are residents)."""
    sy = policy.student_year
    if sy is None:
        return
    if sy.min_age is not None:
        age = sy.start.year - birth_date.year - ((sy.start.month, sy.start.day) < (birth_date.month, birth_date.day))
        if age < sy.min_age:
            raise RefusedByRule(
                f"born on {birth_date}, {age} on {sy.start}: not of {sy.who}, whom the student price is for"
                f" ({sy.min_age_source}); a pupil (中小学生) enrolls as a resident", "cohort", "student_age")
    if sy.proof == "school" and school is None:
        raise RefusedByRule(f"the student price is for {sy.who}: name the school (高校) the student attends",
                            "school", "student_school")


def coverage_bounds(policy: Policy, cohort: str) -> tuple[date, date, str]:
    if cohort == "student" and policy.student_year is not None:
        sy = policy.student_year
        return sy.start, sy.end, f"the academic year {sy.start}..{sy.end} ({sy.source})"
    start, end = date(policy.year, 1, 1), date(policy.year, 12, 31)
    return start, end, f"the coverage year {start}..{end}"


def benefit_period(
    policy: Policy,
    *,
    cohort: str,
    enrolled_on: date,
    fully_paid_on: date | None,
    birth_date: date,
    hukou_registered_on: date | None,
    by_subsidy: bool = False,
    history: History | None = None,
) -> Benefit:
    """待遇享受期 from the day the contribution was fully paid (完清费用之日). `by_subsidy`: that day is
    the day a subsidy covering the whole contribution was granted, not a payment of the person's.
    `history`: the person's gap and repaired years where the policy has continuity rules."""
    b = Benefit()
    if fully_paid_on is None:
        b.lines.append("not fully paid: partial payments give no coverage (SPEC Decision 3)")
        return b
    year_start, year_end, period = coverage_bounds(policy, cohort)
    start: date | None = None
    if cohort == "newborn":
        nb = policy.newborn
        if nb.rule == "unspecified":
            b.undetermined = f"newborn rule unspecified ({nb.source})"
            b.lines.append(f"coverage undetermined: {b.undetermined}; the ledger does not invent one")
            return b
        anchor = birth_date if nb.anchor == "birth" else hukou_registered_on
        if anchor is None:
            b.undetermined = "the household registration date (落户) is needed for the newborn rule"
            b.lines.append(f"coverage undetermined: {b.undetermined}")
            return b
        measured = enrolled_on if nb.measured_by == "enrolled_on" else fully_paid_on
        anchor_name = "birth" if nb.anchor == "birth" else "household registration"
        measured_name = "enrolled" if nb.measured_by == "enrolled_on" else "fully paid"
        in_time = within_days(anchor, nb.within_days, measured)
        if nb.late_anchor is not None:
            late_from = birth_date if nb.late_anchor == "birth" else hukou_registered_on
            late_day = enrolled_on if nb.late_measured_by == "enrolled_on" else fully_paid_on
            late = late_from is None or not within_days(late_from, nb.within_days, late_day)
            if in_time == late:  # both sentences speak, or neither: they do not settle the start
                first = (f"{measured_name} on {measured}, {'within' if in_time else 'more than'} {nb.within_days}"
                         f" days of {anchor_name} ({anchor}) ({nb.source})")
                second = (f"{'fully paid' if nb.late_measured_by == 'fully_paid_on' else 'enrolled'} on {late_day},"
                          f" {'more than' if late else 'within'} {nb.within_days} days after"
                          f" {'birth' if nb.late_anchor == 'birth' else 'household registration'} ({late_from})"
                          f" ({nb.late_source})")
                b.undetermined = (f"the two newborn sentences disagree: {first}, which would cover from birth, and"
                                  f" {second}, which would cover from the month after payment" if in_time else
                                  f"neither newborn sentence covers this baby: {first}; {second}")
                b.lines.append(f"coverage undetermined: {b.undetermined} (SPEC Decision 9)")
                return b
        if in_time:
            start = max(birth_date, year_start)
            b.lines.append(
                f"newborn {measured_name} on {measured}, within {nb.within_days} days of {anchor_name}"
                f" ({anchor}): covered from birth ({nb.source})"
            )
        elif nb.late_start == "next_month":
            start = first_of_next_month(fully_paid_on)
            b.lines.append(
                f"newborn {measured_name} on {measured}, more than {nb.within_days} days after"
                f" {anchor_name} ({anchor}): covered from the month after payment, {start}"
            )
        else:
            b.lines.append(
                f"newborn {measured_name} on {measured}, more than {nb.within_days} days after"
                f" {anchor_name} ({anchor}): the ordinary rules apply"
            )
    if start is None:
        band = band_for(policy, fully_paid_on)
        limit = policy.band_limit(band)
        when = f"fully paid on {fully_paid_on}" + (f", on or before {limit}" if limit else "")
        source = "" if band.source == "notice" else f" [{band.source}]"
        if band.start == "year_start" and history is not None and history.gap_years and not history.exempt:
            assert policy.continuity is not None
            w, lines = waiting(policy.continuity, history, "year_start")
            b.lines.extend(lines)
            if w is None:
                b.undetermined = lines[-1]
                return b
            start = first_of_month_after(year_start, w.months)
            b.waiting = w
            b.lines.append(f"{when}, in the collection window: the {w.months} months count from {year_start},"
                           f" covered from {start}{source}")
        elif band.start == "year_start":
            start = year_start
            if history is not None and history.exempt and history.gap_years:
                b.lines.append(f"no waiting period: {history.exempt}")
            b.lines.append(f"{when}: covered for {period}{source}")
        elif band.start == "waiting_period":
            start = _after_waiting(b, policy, history or NO_HISTORY, fully_paid_on, year_start, when)
            if start is None:
                return b
        elif band.start == "next_month":
            start = first_of_next_month(fully_paid_on)
            b.lines.append(f"{when}: covered from the 1st of the next month, {start}{source}")
        elif band.start == "after_days":
            assert band.days is not None
            start = after_full_days(fully_paid_on, band.days)
            b.lines.append(
                f"{when}: covered once {band.days} full days have passed (满{band.days}日后,"
                f" Civil Code art. 201), from {start}{source}"
            )
        elif band.start == "refused" and cohort in policy.collection.window_exempt:
            b.undetermined = (f"{cohort}s are not bound by the window ({policy.collection.window_exempt_source}),"
                              " but no benefit start is stated for a payment after it")
            b.lines.append(f"{when}: coverage undetermined: {b.undetermined}")
            return b
        elif band.start == "refused" and by_subsidy:
            # The notice forbids the resident's own late payment (不得补缴); a subsidy the fund grants
            # to a person already enrolled (对已参保的…予以资助) is not one, and no sentence gives its start.
            b.undetermined = (f"the whole contribution was met by a subsidy granted on {fully_paid_on}, after the"
                              f" window: {policy.notice} forbids only the resident's own late payment and states no"
                              " benefit start for a subsidy granted after the window")
            b.lines.append(f"coverage undetermined: {b.undetermined}")
            return b
        elif band.start == "refused":
            b.lines.append(f"{when}: after the window; the policy accepts no late payment")
            return b
        else:
            b.undetermined = f"no rule for a contribution {when} ({band.source})"
            b.lines.append(f"coverage undetermined: {b.undetermined}; the ledger does not invent one")
            return b
    if start > year_end:
        b.lines.append(f"coverage would start on {start}, after {period} ends: no coverage")
        return b
    b.start, b.end = start, year_end
    return b


def _after_waiting(b: Benefit, policy: Policy, facts: History, fully_paid_on: date, year_start: date,
                   when: str) -> date | None:
    """The start after the window under the continuity rules: the waiting period counted from the
    policy's anchor, or for an exempt person the stated start; None (with `b` saying why) where the
    policy leaves it undetermined."""
    rules = policy.continuity
    assert rules is not None  # the policy check requires it for a waiting_period band
    if facts.exempt:
        b.lines.append(f"{when}, after the collection window: no waiting period, {facts.exempt}")
        if rules.exempt_start == "unspecified":
            b.undetermined = (f"an exempt person paying after the window: no benefit start is stated"
                              f" ({rules.exempt_start_source})")
            b.lines.append(f"coverage undetermined: {b.undetermined}")
            return None
        start = {"payment_month": date(fully_paid_on.year, fully_paid_on.month, 1),
                 "next_month": first_of_next_month(fully_paid_on),
                 "payment_day": fully_paid_on}[rules.exempt_start]
        start = max(start, year_start)
        b.lines.append(f"covered from {start} ({rules.exempt_start_source})")
        return start
    if rules.anchor is None:
        b.undetermined = f"the waiting period's anchor is not stated ({rules.anchor_source})"
        b.lines.append(f"{when}, after the collection window: coverage undetermined: {b.undetermined}")
        return None
    w, lines = waiting(rules, facts, rules.anchor)
    b.lines.extend(lines)
    if w is None:
        b.undetermined = lines[-1]
        return None
    b.waiting = w
    if rules.anchor == "payment_month":
        start = first_of_month_after(fully_paid_on, w.months)
        how = f"the payment month counted as the first ({rules.anchor_source})"
    elif rules.anchor == "next_month":
        start = first_of_month_after(fully_paid_on, w.months + 1)
        how = f"from the month after payment ({rules.anchor_source})"
    else:
        start = after_full_months(fully_paid_on, w.months)
        how = f"from the payment day, Civil Code art. 202 ({rules.anchor_source})"
    start = max(start, year_start)
    b.lines.append(f"{when}, after the collection window: {w.months} months {how}, covered from {start}")
    return start


def refund_on_cancel(
    policy: Policy, *, paid_fen: int, benefit_start: date | None, effective_on: date
) -> tuple[int, str]:
    """退费 on cancellation: none where the notice forbids it; else only before benefits start."""
    rule = policy.refund
    if paid_fen == 0:
        return 0, "nothing was paid, nothing to refund"
    if rule.rule == "none":
        return 0, f"no refund: {policy.notice} 不得要求返还已缴纳的费用"
    closes = policy.collection.closes
    if rule.rule == "none_after_window" and closes is not None and effective_on > closes:
        return 0, (f"no refund: cancelled from {effective_on}, after the collection window closed on {closes}"
                   f" ({rule.source})")
    if rule.rule == "unspecified":
        raise RefusedByRule(
            f"policy {policy.id} states no refund rule; the bureau must decide outside the ledger",
            "reason",
            "refund_unspecified",
        )
    if benefit_start is not None and benefit_start <= effective_on:
        return 0, (
            f"no refund: the benefit period started on {benefit_start}, on or before the"
            f" cancellation on {effective_on} ({rule.source})"
        )
    return paid_fen, (
        f"refund {yuan(paid_fen)}, the individual share, as the benefit period had not started"
        f" by {effective_on} ({rule.source})"
    )


def describe_category(code: str) -> str:
    return f"{code} ({chinese_name(code)})"
