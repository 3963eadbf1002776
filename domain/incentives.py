"""大病保险 incentives of 国办发〔2024〕38号: a person's annual 大病保险 limit for a coverage year.

«对连续参加居民医保满4年的参保人员，之后每连续参保1年，可适当提高大病保险最高支付限额。对当年基金零报销的
居民医保参保人员，次年可提高大病保险最高支付限额。…累计提高总额不超过所在统筹地区大病保险原封顶线的20%。
居民发生大病报销并使用奖励额度后，前期积累的零报销激励额度清零。断保之后再次参保的，连续参保年数重新计算。»

Continuous years are years of resident cover (this ledger's paid enrollments, or resident cover
recorded from elsewhere) without a break, up to the year asked. Zero-claim years are years the
claims system reported no reimbursement, counted since the reward was last used; a year whose
claims are not recorded is not counted, and the answer says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from domain.continuity import gap_years, insured_in
from domain.money import yuan
from domain.person import Person
from domain.policy import Policy, amount_fen


@dataclass
class Limit:
    base_fen: int | None
    continuous_years: int
    zero_claim_years: int
    increase_fen: int | None = None
    limit_fen: int | None = None
    undetermined: str | None = None
    lines: list[str] = field(default_factory=list)

    def to_api(self) -> dict[str, Any]:
        return {"base_limit": _money(self.base_fen), "continuous_years": self.continuous_years,
                "zero_claim_years": self.zero_claim_years, "increase": _money(self.increase_fen),
                "limit": _money(self.limit_fen), "undetermined_because": self.undetermined}


def _money(fen: int | None) -> str | None:
    return None if fen is None else yuan(fen)


def critical_illness_limit(policy: Policy, person: Person, year: int) -> Limit | None:
    rules = policy.critical_illness
    if rules is None:
        return None
    first = rules.counts_from
    continuous = 0
    if first is not None:
        y = year
        while y >= first and insured_in(person, y, schemes=("resident",)):
            continuous += 1
            y -= 1
    zero, unknown = 0, []
    if first is not None:
        for y in range(first, year):
            claims = person.claims.get(y)
            if claims is None:
                if insured_in(person, y, schemes=("resident",)):
                    unknown.append(y)
                continue
            if claims.reward_used:
                zero, unknown = 0, []  # 使用奖励额度后，前期积累的零报销激励额度清零
            elif not claims.reimbursed:
                zero += 1
    base = amount_fen(rules.base_limit) if rules.base_limit is not None else None
    after_break = gap_years(person, policy.continuity, year) if policy.continuity is not None else []
    if after_break and rules.after_break_limit is not None:
        base = amount_fen(rules.after_break_limit)
    out = Limit(base, continuous, zero)
    steps = max(continuous - rules.continuous_after_years, 0)
    if after_break and rules.after_break_limit is None and rules.after_break_source.startswith("unspecified"):
        out.undetermined = (f"re-enrolled after a break (not insured in {', '.join(map(str, after_break))}), and"
                            f" whether the limit is lowered for such a person is not stated (国办发〔2024〕38号:"
                            f" 对断保人员再参保的，可降低大病保险最高支付限额)")
    elif first is None:
        out.undetermined = f"the year the incentives count from is not stated ({rules.counts_from_source})"
    elif base is None:
        out.undetermined = f"the base 大病保险 limit is not stated ({rules.base_limit_source})"
    elif steps and rules.continuous_step is None:
        out.undetermined = f"the step for continuous enrollment is not stated ({rules.continuous_step_source})"
    elif zero and rules.zero_claim_step is None:
        out.undetermined = f"the step for a year without claims is not stated ({rules.zero_claim_step_source})"
    if out.undetermined:
        out.lines.append(f"大病保险 limit undetermined: {out.undetermined}")
        return out
    assert base is not None
    raw = (steps * amount_fen(rules.continuous_step) if steps else 0) + (
        zero * amount_fen(rules.zero_claim_step) if zero else 0)
    cap = int((Decimal(base) * Decimal(rules.cap_share)).quantize(Decimal(1), ROUND_HALF_UP))
    out.increase_fen = min(raw, cap)
    out.limit_fen = base + out.increase_fen
    if after_break and rules.after_break_limit is not None:
        out.lines.append(f"re-enrolled after a break (not insured in {', '.join(map(str, after_break))}): base limit"
                         f" {yuan(base)} ({rules.after_break_source})")
    else:
        out.lines.append(f"大病保险 base limit {yuan(base)} ({rules.base_limit_source})")
    out.lines.append(f"{continuous} continuous year{'s' if continuous != 1 else ''} of resident cover to {year}"
                     f" (counted from {first}): {steps} step{'s' if steps != 1 else ''} after"
                     f" {rules.continuous_after_years} ({rules.continuous_step_source})")
    if zero:
        out.lines.append(f"{zero} year{'s' if zero != 1 else ''} without reimbursement since the reward was last"
                         f" used ({rules.zero_claim_step_source})")
    if unknown:
        out.lines.append(f"claims not recorded for {', '.join(map(str, unknown))}: not counted as years without claims")
    if raw > cap:
        out.lines.append(f"increase {yuan(raw)} capped at {yuan(cap)}, {rules.cap_share} of the base ({rules.cap_source})")
    out.lines.append(f"大病保险 limit for {year}: {yuan(out.limit_fen)}")
    return out
