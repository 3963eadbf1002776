"""The enrollment as the ledger sees it: amounts, status, benefit period, and why.

Computed from a folded Person (already cut to "on D, as known at T") and its policy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from operator import attrgetter
from datetime import date
from typing import Any

from domain import events as ev
from domain.continuity import History, Waiting, history
from domain.dates import china_date
from domain.incentives import Limit, critical_illness_limit
from domain.money import yuan
from domain.person import Enrollment, Person
from domain.policy import _FORGET, Policy, policy_at, policy_version
from domain.owed import full_cost_fen, last_paid_on
from domain.policy import band_for
from domain.rules import Benefit, benefit_period, describe_category, subsidy_amount


@dataclass(slots=True)
class CoverageView:
    id_number: str
    year: int
    status: str
    tier: int | None = None
    cohort: str | None = None
    policy: str | None = None
    contribution_fen: int = 0
    subsidy: ev.SubsidyGranted | None = None
    payable_fen: int = 0
    paid_fen: int = 0
    fully_paid_on: date | None = None
    benefit_start: date | None = None
    benefit_end: date | None = None
    undetermined: str | None = None
    covered_through: str | None = None  # not enrolled, covered through another's enrollment (the mother's)
    fee_waived: str | None = None  # why nothing is payable: 004's newborn fee waiver
    # Enrolled late in its own right, a baby was covered through its mother before that (first, last
    # day); from its own enrollment to its own cover, no sentence says (undetermined days).
    through_mother: tuple[date, date] | None = None
    unsettled_days: tuple[date, date] | None = None
    refund_fen: int = 0
    # The subsidy's amount is left to other rules (据实), paid or not: the funder will pay for the
    # person once it is set, so the subsidies report counts them apart from what is spent.
    subsidy_amount_unknown: bool = False
    waiting: Waiting | None = None
    critical_illness: Limit | None = None
    explanation: list[str] = field(default_factory=list)

    @property
    def enrolled(self) -> bool:
        """参保 for the year: enrolled and not (or not yet) cancelled."""
        return self.status not in ("not_enrolled", "cancelled")

    @property
    def subsidy_spent(self) -> bool:
        """The subsidy was spent: the enrollment is paid, or was cancelled after its cover began
        (a death in March keeps the year's subsidy in the funder's totals)."""
        return self.subsidy is not None and (
            self.status == "paid" or (self.status == "cancelled" and self.benefit_start is not None))

    @property
    def owed_unknown(self) -> bool:
        """Undetermined because what is owed is not known (not yet paid), rather than when cover starts."""
        return self.is_undetermined and self.undetermined is not None and self.undetermined.startswith(OWED_UNKNOWN)

    @property
    def outstanding_fen(self) -> int:
        return max(self.payable_fen - self.paid_fen, 0)

    def covered_on(self, day: date) -> bool:
        """Inside the benefit period on `day` (False where the period is undetermined: see coverage_status)."""
        if self.through_mother is not None and self.through_mother[0] <= day <= self.through_mother[1]:
            return True
        return bool(self.benefit_start and self.benefit_end and self.benefit_start <= day <= self.benefit_end)

    def _unsettled(self, day: date | None) -> bool:
        return day is not None and self.unsettled_days is not None and \
            self.unsettled_days[0] <= day <= self.unsettled_days[1]

    @property
    def is_undetermined(self) -> bool:
        """Paid, but the policy states no rule for the case (or a fact it needs is unknown)."""
        return self.undetermined is not None and self.status != "cancelled"

    def coverage_status(self, day: date | None = None) -> str:
        """covered | not_covered | undetermined (SPEC Decision 12): on `day` when given, else for the
        year (whether the enrollment has a benefit period at all). Undetermined is never "not covered"."""
        if self.is_undetermined or self._unsettled(day):
            return "undetermined"
        if day is not None:
            return "covered" if self.covered_on(day) else "not_covered"
        if self.status == "cancelled":
            return "not_covered"  # its cover, if it had any, has ended: benefit_start and benefit_end say when
        return "covered" if self.benefit_start is not None else "not_covered"

    def covered_answer(self, day: date) -> bool | None:
        """The API's `covered_on`: true, false, or null when undetermined."""
        return None if self.is_undetermined or self._unsettled(day) else self.covered_on(day)

    def answer(self, on: date | None) -> dict[str, Any]:
        """The coverage read's answer (API and CLI): asked about a date `on`, the status and
        `covered_on` are that date's; `covered_on` is null when undetermined, and absent a date."""
        body = self.to_api()
        if on is not None:
            body["coverage_status"] = self.coverage_status(on)
        body["covered_on"] = self.covered_answer(on) if on is not None else None
        return body

    def to_api(self) -> dict[str, Any]:
        s = self.subsidy
        return {
            "id_number": self.id_number,
            "year": self.year,
            "tier": self.tier,
            "cohort": self.cohort,
            "policy": self.policy,
            "status": self.status,
            "contribution": yuan(self.contribution_fen),
            "subsidy": None
            if s is None
            else {
                "amount": yuan(s.amount_fen),
                "category": s.category,
                "funder": s.funder,
                "granted_on": s.granted_on.isoformat(),
            },
            "individual_payable": yuan(self.payable_fen),
            "paid": yuan(self.paid_fen),
            "outstanding": yuan(self.outstanding_fen),
            "fully_paid_on": _iso(self.fully_paid_on),
            "benefit_start": _iso(self.benefit_start),
            "benefit_end": _iso(self.benefit_end),
            "refund": yuan(self.refund_fen),
            "waiting_period": self.waiting.to_api() if self.waiting else None,
            "critical_illness": self.critical_illness.to_api() if self.critical_illness else None,
            "coverage_status": self.coverage_status(),
            "covered_through": self.covered_through,
            "undetermined_because": self.undetermined if self.is_undetermined else None,
            "explanation": self.explanation,
        }


OWED_UNKNOWN = "what the person owes is undetermined"


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d else None


def describe_elsewhere(c: ev.CoverageElsewhereRecorded) -> str:
    scheme = "employee scheme (职工医保)" if c.scheme == "employee" else "resident scheme (城乡居民医保)"
    until = f"to {c.to_on}" if c.to_on else "continuing"
    return f"{scheme} in {c.region} from {c.from_on} {until} (source: {c.source})"


_paid_at = attrgetter("paid_at")


def fully_paid_on(e: Enrollment, payable_fen: int, explain: bool = True) -> tuple[date | None, str]:
    """完清费用之日: the date of the payment that brings the payments up to the amount payable,
    and (when `explain`) how."""
    if payable_fen == 0:
        if e.fee_waived:
            on = e.fee_waived_on or e.enrolled_on
            return on, (f"nothing payable ({e.fee_waived}): fully paid on {on}, when its last condition was met"
                        if explain else "")
        assert e.subsidy is not None
        return e.subsidy.granted_on, (
            f"subsidised in full: fully paid on the day the subsidy was granted, {e.subsidy.granted_on}"
            " (SPEC Decision 3)" if explain else ""
        )
    total = 0
    payments = e.payments.values()
    # Most enrollments have one payment: not sorting it saved 1.5% of a rebuild's fold (callgrind).
    for p in sorted(payments, key=_paid_at) if len(payments) > 1 else payments:
        total += p.amount_fen
        if total >= payable_fen:
            day = china_date(p.paid_at)
            if not explain:
                return day, ""
            count = len(e.payments)
            how = "one payment" if count == 1 else f"{count} payments adding up"
            return day, f"fully paid on {day} ({how} to {yuan(payable_fen)})"
    return None, ""


def _benefit(policy_id: str, version: int, cohort: str, enrolled_on: date, paid_on: date | None, birth_date: date,
             hukou_registered_on: date | None, by_subsidy: bool, facts: History | None) -> Benefit:
    """The benefit period, remembered: outside the newborn rules it depends on the policy, the
    cohort, the fully-paid day and the person's gap years alone, so a county's persons share a few
    hundred answers."""
    if cohort != "newborn":
        return _benefit_cached(policy_id, version, cohort, None, paid_on, None, None, by_subsidy, facts)
    return _benefit_cached(policy_id, version, cohort, enrolled_on, paid_on, birth_date, hukou_registered_on,
                           by_subsidy, facts)


@lru_cache(maxsize=65536)
def _benefit_cached(policy_id: str, version: int, cohort: str, enrolled_on: date | None, paid_on: date | None,
                    birth_date: date | None, hukou_registered_on: date | None, by_subsidy: bool,
                    facts: History | None) -> Benefit:
    return benefit_period(policy_at(policy_id, version), cohort=cohort, enrolled_on=enrolled_on, fully_paid_on=paid_on,
                          birth_date=birth_date, hukou_registered_on=hukou_registered_on, by_subsidy=by_subsidy,
                          history=facts)


_FORGET.append(_benefit_cached.cache_clear)


def enrollment_view(person: Person, year: int, on: date | None = None, explain: bool = True) -> CoverageView:
    """`explain=False` leaves out the explanation lines (the projection computes millions of views
    and reads none of them); every figure is the same either way."""
    e = person.enrollments.get(year)
    if e is None:
        return CoverageView(person.id_number, year, "not_enrolled", explanation=[f"not enrolled for {year}"])
    policy, version = policy_version(e.policy_id, person.known_at)
    contribution = policy.contribution_fen(e.tier, e.cohort)
    view = CoverageView(person.id_number, year, "enrolled", e.tier, e.cohort, policy.id, contribution)
    lines = view.explanation if explain else []
    subsidy = e.subsidy
    if explain:
        lines.append(
            f"policy {policy.id} ({policy.notice}): tier {e.tier} {e.cohort} contribution {yuan(contribution)};"
            f" enrolled on {e.enrolled_on}"
        )
        if e.fee_waived:
            lines.append(f"contribution waived: {e.fee_waived}")
        elif subsidy is not None and subsidy.undetermined:
            lines.append(f"subsidy under {describe_category(subsidy.category)} undetermined, decided on"
                         f" {subsidy.granted_on}: {subsidy.rule}")
        elif subsidy is not None:
            lines.append(
                f"subsidy {yuan(subsidy.amount_fen)} under {describe_category(subsidy.category)}, funder"
                f" {subsidy.funder} ({policy.funders.get(subsidy.funder, '?')}), granted on"
                f" {subsidy.granted_on}: {subsidy.rule}"
            )
    owed_unknown = (subsidy.undetermined if subsidy is not None and not e.fee_waived else None) \
        or e.fee_waiver_undetermined
    if e.fee_waived:
        view.payable_fen, view.fee_waived = 0, e.fee_waived
    elif owed_unknown:
        # At most this: what is unknown (a subsidy set elsewhere, a waiver) may lower it, never raise it.
        known = subsidy if subsidy is not None and not subsidy.undetermined else None
        view.subsidy = known
        view.payable_fen = contribution - (known.amount_fen if known else 0)
    else:
        view.subsidy = subsidy
        view.payable_fen = contribution - (subsidy.amount_fen if subsidy else 0)
    view.paid_fen = e.paid_fen
    if explain:
        lines.extend(_frozen_subsidy_lines(person, e, policy))
        for c in person.elsewhere_during(date(year, 1, 1), date(year, 12, 31)):
            lines.append(f"warning: insured elsewhere in {year}, {describe_elsewhere(c)}: 不得重复参保"
                         f" ({policy.elsewhere.source}); a ground to cancel with a refund")
        for v in e.voided:
            lines.append(f"payment {v.payment_id} voided (corrects event {v.corrects}): {v.reason}")
        if policy.collection.cash == "discouraged":
            for p in e.payments.values():
                if p.channel == "cash":
                    lines.append(f"warning: payment {p.payment_id} was taken in cash (receipt {p.receipt_no}),"
                                 f" which policy {policy.id} allows only by exception ({policy.collection.cash_source})")
    paid_on, how = fully_paid_on(e, view.payable_fen, explain)
    if policy.full_cost_bands and not e.fee_waived:
        full = full_cost_fen(policy, e, paid_on)
        if full is not None:
            # Paid in a band that charges the whole cost: no subsidy, and the whole cost is owed.
            day = paid_on or last_paid_on(e)
            view.subsidy, view.payable_fen = None, full
            paid_on, how = fully_paid_on(e, full, explain)
            owed_unknown = None
            if explain:
                lines.append(f"paid on {day}, in a band that charges the whole cost: {yuan(full)} is owed, without"
                             f" subsidy ({band_for(policy, day).source})")
    view.fully_paid_on = paid_on
    # (A band charging the whole cost cleared owed_unknown: no subsidy at all there.)
    view.subsidy_amount_unknown = bool(owed_unknown and subsidy is not None and subsidy.undetermined and not e.fee_waived)
    if how:
        lines.append(how)
    by_subsidy = view.payable_fen == 0 and not e.fee_waived
    facts = history(policy, person, year, e.cohort, paid_on) if policy.continuity is not None else None
    benefit = _benefit(policy.id, version, e.cohort, e.enrolled_on, paid_on, person.birth_date, person.hukou_registered_on,
                       by_subsidy, facts)
    if explain:
        lines.extend(benefit.lines)
        for r in sorted(e.repairs.values(), key=_paid_at):
            lines.append(f"repair (修复) of {r.repair_year}: {yuan(r.amount_fen)} paid on {china_date(r.paid_at)}"
                         f" (payment {r.payment_id})")
    view.benefit_start, view.benefit_end, view.undetermined = benefit.start, benefit.end, benefit.undetermined
    view.waiting = benefit.waiting
    if explain and policy.critical_illness is not None and paid_on is not None:
        view.critical_illness = critical_illness_limit(policy, person, year)
        if view.critical_illness is not None:
            lines.extend(view.critical_illness.lines)
    if owed_unknown and paid_on is None:
        # Paid in full, the person is fully paid whatever the subsidy; short of that, nobody knows.
        view.undetermined = f"{OWED_UNKNOWN}: {owed_unknown}"
        if explain:
            lines.append(f"payable undetermined: {owed_unknown}; at most {yuan(contribution)}")
    if paid_on is not None:
        view.status = "paid"
    elif view.paid_fen > 0:
        view.status = "partially_paid"
    excess = view.paid_fen - (view.payable_fen if paid_on is not None else view.paid_fen)
    if excess > 0 and e.cancellation is None:
        # A subsidy granted, or a newborn's fee waived, after payment began left more paid than is now payable.
        after = "the fee waiver" if e.fee_waived else "the subsidy"
        if policy.after_grant == "refund":
            view.refund_fen = excess
            if explain:
                lines.append(f"{yuan(excess)} paid beyond the payable after {after}: refunded, the difference"
                             f" ({policy.difference_source})")
        elif explain:
            lines.append(f"{yuan(excess)} paid beyond the payable after {after}: whether it is refunded is"
                         f" undetermined ({policy.difference_source}; SPEC Decision 4)")
    c = e.cancellation
    if c is not None:
        view.status = "cancelled"
        view.refund_fen = c.refund_fen
        if view.benefit_start is not None and view.benefit_start <= c.effective_on:
            view.benefit_end = min(view.benefit_end or c.effective_on, c.effective_on)
        else:
            view.benefit_start = view.benefit_end = None
        if explain:
            if view.benefit_start is not None:
                lines.append(f"covered from {view.benefit_start} to {view.benefit_end}, when the cancellation ended it")
            lines.append(f"cancelled ({c.reason}) from {c.effective_on}: {c.refund_rule}")
    if on is not None and explain:
        lines.append(f"on {on}: {view.coverage_status(on).replace('_', ' ')}")
    return view


def _frozen_subsidy_lines(person: Person, e: Enrollment, policy: Policy) -> list[str]:
    """Identity changes after the subsidy decision change nothing; say so, and what they would give."""
    if e.subsidy is not None:
        since, what = e.subsidy.originator_version, f"the subsidy was granted on {e.subsidy.granted_on}"
    elif e.first_payment_version is not None:
        since, what = e.first_payment_version, "payment began without a subsidy"
    else:
        return []
    year_end = date(e.year, 12, 31)
    lines = []
    for change in person.identity_events:
        if change.originator_version <= since or change.effective_on > year_end:
            continue
        name = describe_category(change.category)
        if isinstance(change, ev.IdentityCertified):
            rule = policy.subsidy_rule(change.category)
            amount = subsidy_amount(policy, rule, e.tier, e.cohort) if rule else None
            would = f" (it would give {yuan(amount)})" if amount is not None else ""
            if rule is None or amount == 0:
                continue  # the category gives nothing on this tier: there is no difference to speak of
            if policy.after_grant == "refund":
                continue  # the ledger decided again when it was certified: the subsidy line says what
            frozen = policy.after_grant == "none" and e.subsidy is not None
            lines.append(
                f"{name} certified from {change.effective_on}, after {what}{would}: "
                + (f"no difference is paid ({policy.difference_source}; SPEC Decision 4)" if frozen
                   else f"the difference is undetermined, the notice does not settle it ({policy.difference_source};"
                        " SPEC Decision 4)")
            )
        else:
            lines.append(
                f"{name} ended from {change.effective_on}, after {what}: the subsidy is not clawed"
                " back (SPEC Decision 4)"
            )
    return lines
