"""What is still owed for an enrollment (应缴未缴), for a payment on a day: the payment path's
check and the continuity rules' "paid in full", without building the whole enrollment view
(domain/coverage.py builds it from the same functions)."""

from __future__ import annotations

from datetime import date

from domain.dates import china_date
from domain.person import Enrollment
from domain.policy import Policy, amount_fen, band_for, policy_by_id


def outstanding_fen(e: Enrollment, on: date | None = None) -> int:
    """What is still to pay for a payment on `on` (default: the day of the latest payment), without
    building the whole view (the payment path's check)."""
    if e.fee_waived:
        return 0
    policy = policy_by_id(e.policy_id)
    full = full_cost_fen(policy, e, on)
    if full is not None:
        return max(full - e.paid_fen, 0)
    payable = policy.contribution_fen(e.tier, e.cohort) - (e.subsidy.amount_fen if e.subsidy else 0)  # 0 if unknown
    return max(payable - e.paid_fen, 0)


def full_cost_fen(policy: Policy, e: Enrollment, on: date | None) -> int | None:
    """The whole cost, where a payment on `on` falls in a band that charges it (no subsidy)."""
    if not policy.full_cost_bands:
        return None
    if on is None:
        if not e.payments:
            return None
        on = last_paid_on(e)
    band = band_for(policy, on)
    return amount_fen(band.full_cost) if band.full_cost is not None else None


def last_paid_on(e: Enrollment) -> date:
    return max(china_date(p.paid_at) for p in e.payments.values())
