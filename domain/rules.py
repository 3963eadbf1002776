"""The rule engine: reads a Policy and the person's facts, decides amounts and dates.

Nothing here touches storage; every function is pure so the rules can be tested one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from datetime import date, timedelta

from domain.categories import chinese_name
from domain.dates import after_full_days, first_of_next_month, within_days
from domain.errors import RefusedByRule
from domain.events import Candidate
from domain.money import yuan
from domain.policy import Band, Policy, Subsidy, amount_fen, policy_by_id


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


def decide_subsidy(
    policy: Policy, tier: int, cohort: str, held: list[str]
) -> SubsidyDecision | None:
    """Highest applies (就高不就低): the single largest amount for the chosen tier, never a sum.

    Equal amounts: the category listed first in the policy wins (SPEC Decision 5). A policy with
    highest_applies = false ranks its categories instead: the first one listed that the person
    holds and that gives something on the tier (still one subsidy, never a sum).
    """
    candidates: list[Candidate] = []
    best: tuple[Subsidy, int] | None = None
    elsewhere: list[Subsidy] = []
    for rule in policy.subsidy:
        if rule.category not in held:
            continue
        if rule.set_elsewhere is not None:
            elsewhere.append(rule)
            continue
        amount = subsidy_amount(policy, rule, tier, cohort)
        candidates.append(Candidate(rule.category, amount))
        if amount > 0 and (best is None or amount > best[1]):
            best = (rule, amount)
    contribution = policy.contribution_fen(tier, cohort)
    if not policy.highest_applies:
        first = next((r for r in policy.subsidy if r.category in held
                      and (r.set_elsewhere is not None or subsidy_amount(policy, r, tier, cohort))), None)
        if first is None:
            return None
        if first.set_elsewhere is None:
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
        why = (f"{rule.category} is subsidised by an amount set outside the notice ({rule.set_elsewhere});"
               f" against {known}, the highest cannot be known")
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
    return SubsidyDecision(rule.category, amount, rule.funder, candidates, text)


# -- payments and benefit periods ------------------------------------------------------------


def band_for(policy: Policy, fully_paid_on: date) -> Band:
    for band in policy.band:
        limit = policy.band_limit(band)
        if limit is None or fully_paid_on <= limit:
            return band
    return policy.band[-1]  # pragma: no cover - policy check makes the last band open-ended


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


@dataclass
class Benefit:
    start: date | None = None
    end: date | None = None
    lines: list[str] = field(default_factory=list)
    undetermined: str | None = None


# Where a policy does not say when its window opens (000 Qianjiang states no dates), payments are
# taken from 1 September of the year before: no notice here opens its window earlier.
EARLIEST_OPENING = (9, 1)


def payment_season(policy: Policy, cohort: str) -> tuple[date, date]:
    """The days on which a payment for this policy's coverage can be dated: from the window's
    opening (a student's academic year may begin before it) to the end of the coverage year, or
    for a newborn the policy's newborn days after it (a baby born in late December pays in January)."""
    return _payment_season(policy.id, cohort)


@lru_cache(maxsize=1024)
def _payment_season(policy_id: str, cohort: str) -> tuple[date, date]:
    policy = policy_by_id(policy_id)
    first = policy.collection.opens or date(policy.year - 1, *EARLIEST_OPENING)
    start, end, _ = coverage_bounds(policy, cohort)
    # Never earlier than the coverage year's end: a student's academic-year end is inferred, not
    # stated (SPEC, 003), and an inferred date must not refuse a payment.
    last = max(end, date(policy.year, 12, 31))
    if cohort == "student":
        first = min(first, start)
    if cohort == "newborn":
        last += timedelta(days=policy.newborn.within_days)
    return first, last


def coverage_bounds(policy: Policy, cohort: str) -> tuple[date, date, str]:
    if cohort == "student" and policy.student_year is not None:
        sy = policy.student_year
        return sy.start, sy.end, f"the academic year {sy.start}..{sy.end}"
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
) -> Benefit:
    """待遇享受期 from the day the contribution was fully paid (完清费用之日). `by_subsidy`: that day is
    the day a subsidy covering the whole contribution was granted, not a payment of the person's."""
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
        if within_days(anchor, nb.within_days, measured):
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
        if band.start == "year_start":
            start = year_start
            b.lines.append(f"{when}: covered for {period}{source}")
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
