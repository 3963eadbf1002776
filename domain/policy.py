"""The policy model: one TOML file per region and coverage year under domain/policies/.

The files are data; this module reads them into typed Structs (msgspec validates the shape) and
checks what a shape cannot say (categories from the vocabulary, bands in order, amounts). The rule
engine (domain/rules.py) reads these objects and nothing else.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import cache
from pathlib import Path
from collections.abc import Iterable
from typing import Any, Literal

from decimal import Decimal

import msgspec

from domain.categories import CATEGORIES, FACTS
from domain.dates import end_of_february
from domain.errors import InvalidInput, RefusedByRule
from domain.money import parse_yuan

POLICY_DIR = Path(__file__).parent / "policies"

BandStart = Literal["year_start", "next_month", "after_days", "waiting_period", "refused", "unspecified"]
# Where a waiting period's months are counted from for a payment after the window (window payers
# count from 1 January): the payment month counted (Jan pay, 3 months: 1 April), the month after
# it, or the payment day itself (3 months after 15 January ends on 15 April).
Anchor = Literal["payment_month", "next_month", "same_day"]
GapFormula = Literal["gap_years_minus_one", "gap_years"]
ExemptStart = Literal["payment_month", "next_month", "payment_day", "unspecified"]


class Tier(msgspec.Struct, forbid_unknown_fields=True):
    tier: int
    resident: str | None = None  # yuan, e.g. "280.00"; None where no source found states it
    student: str | None = None
    source: str = "notice"


class StudentYear(msgspec.Struct, forbid_unknown_fields=True):
    """The academic year a student's price is for (学年度). Where a notice prices it but states no
    benefit dates, using it as the benefit period is an inference, and `source` says so."""

    start: date
    end: date
    source: str = "inferred: the notice prices the 学年度 and states no benefit dates for students"
    # Who the student price is for (在綦高校大学生), and what the enrollment must show: the school
    # ("school"), and an age below which nobody is of the group (`min_age` on `start`).
    who: str = "students"
    proof: Literal["none", "school"] = "none"
    min_age: int | None = None
    min_age_source: str = ""


class Collection(msgspec.Struct, forbid_unknown_fields=True):
    opens: date | None = None
    closes: date | None = None
    closes_source: str = "notice"  # "notice" or the provincial document it is taken from
    # Cash at the collection point: allowed; discouraged (taken, with a warning in the answer and
    # in the collections report, where a notice says "in principle not", 原则上不允许); refused.
    cash: Literal["allowed", "discouraged", "refused"] = "allowed"
    cash_source: str = "notice"
    # A wider area whose persons this region's collection points also register and take payments
    # for (002: 「要实行全渝通办，不得拒绝非本地户籍人员办理参保缴费」, all of Chongqing: "50"). Reads keep
    # their scopes.
    serves: str | None = None
    serves_source: str = "notice"
    # Cohorts the window does not bind: their late payment is taken, and where the notice states no
    # benefit start for it, the start is undetermined (004: 「大学毕业生和退伍军人不受当年集中缴费时间的限定」).
    window_exempt: list[Literal["graduate", "veteran"]] = []
    window_exempt_source: str = "notice"


class Band(msgspec.Struct, forbid_unknown_fields=True):
    """Coverage start for a contribution fully paid on or before `paid_through`.

    `paid_through` is a date, "end_of_february" (computed for the coverage year, so 29 February
    in a leap year), or absent for the last, open-ended band. `waiting_period`: after the
    [continuity] waiting period, counted from its anchor. `full_cost`: paid in this band, the
    person pays the whole cost (individual share and fiscal subsidy) and no identity subsidy
    applies (Yunnan 2025: 「全额缴纳…不享受财政补助」).
    """

    start: BandStart
    paid_through: str | None = None
    days: int | None = None
    full_cost: str | None = None
    source: str = "notice"


class Continuity(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """连续参保: the waiting periods of 国办发〔2024〕38号 as a region applies them. Every parameter
    names its sentence in the file; one a source does not state stays at its "unspecified" value
    and the answer it would decide is undetermined, never guessed."""

    counts_from: int  # the first coverage year a missed year counts as a gap (自2025年起)
    counts_from_source: str
    fixed_months: int  # 固定待遇等待期
    fixed_source: str
    variable_months_per_gap_year: int = 1  # 变动待遇等待期: months per gap year beyond the formula's
    gap_formula: GapFormula | None = None  # None: unspecified, a waiting period with gap years is undetermined
    gap_formula_source: str = "unspecified"
    # 连续断保4年及以上的，修复后固定待遇等待期和变动待遇等待期之和原则上不少于6个月
    min_total_months: int | None = None
    min_total_after_gap_years: int | None = None
    min_total_source: str = "unspecified"
    anchor: Anchor | None = None  # None: unspecified, a late payer's start is undetermined
    anchor_source: str = "unspecified"
    # Who waits no months (除新生儿等特殊群体外): cohorts, identity categories held on the day the
    # contribution is fully paid, and persons whose 职工医保 ended at most this many months before.
    exempt_cohorts: list[Literal["newborn", "student", "graduate", "veteran"]] = []
    exempt_categories: list[str] = []
    exempt_after_employee_months: int | None = None
    exemptions_source: str = "unspecified"
    # An exempt person paying after the window is covered from: (the 1st of) the payment month, the
    # next month, the payment day; unspecified: undetermined.
    exempt_start: ExemptStart = "unspecified"
    exempt_start_source: str = "unspecified"
    # 修复: each missed year paid for at the current year's individual contribution removes one
    # variable month.
    repair: bool = False
    repair_source: str = "unspecified"


class CriticalIllness(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """大病保险 incentives of 国办发〔2024〕38号: a higher annual limit for continuous enrollment
    (each year after four) and for a year without claims; capped as a share of the base limit."""

    base_limit: str | None = None  # yuan; None: unspecified, the limit is undetermined
    base_limit_source: str = "unspecified"
    counts_from: int | None = None  # the first year that counts, for both incentives (UNVERIFIED nationally)
    counts_from_source: str = "unspecified"
    continuous_after_years: int = 4  # 连续参加居民医保满4年
    continuous_step: str | None = None  # yuan per further year
    continuous_step_source: str = "unspecified"
    zero_claim_step: str | None = None  # yuan for each year without claims (当年基金零报销的…次年可提高)
    zero_claim_step_source: str = "unspecified"
    cap_share: str = "0.20"  # 累计提高总额不超过…原封顶线的20%
    # 「对断保人员再参保的，可降低大病保险最高支付限额」: the base limit for a person whose enrollment
    # ends a break. Unstated (a source beginning "unspecified"): such a person's limit is undetermined; a source
    # that says the limit is not lowered leaves `after_break_limit` empty and names itself.
    after_break_limit: str | None = None
    after_break_source: str = "unspecified"
    cap_source: str = "国办发〔2024〕38号: 累计提高总额不超过所在统筹地区大病保险原封顶线的20%"


class Newborn(msgspec.Struct, forbid_unknown_fields=True):
    rule: Literal["from_birth", "unspecified"] = "unspecified"
    anchor: Literal["birth", "hukou_registration"] = "birth"
    within_days: int = 90
    measured_by: Literal["enrolled_on", "fully_paid_on"] = "fully_paid_on"
    late_start: Literal["bands", "next_month"] = "bands"
    # Where the late newborn's sentence counts from another anchor than the first (004: 「出生后超过90天
    # 办理参保缴费的」 counts from birth to the payment, while 「落户后90天内…办理参保登记」 counts from 落户 to
    # the registration): the late sentence's anchor and the day it measures. Where the two sentences
    # disagree, the start is undetermined, naming both (SPEC Decision 9). None: the late rule applies
    # exactly when the first does not.
    late_anchor: Literal["birth", "hukou_registration"] | None = None
    late_measured_by: Literal["enrolled_on", "fully_paid_on"] = "fully_paid_on"
    late_source: str = "notice"
    exempt_from_window: bool = False
    # A baby not enrolled in its own right is covered through its enrolled mother (the sentence
    # that says so: 003 「未独立参保的，可随参加居民医保的母亲享受居民医保待遇…合计不超过其母当年享受的最高支付额」).
    through_mother: str | None = None
    fee_waived_when_both_parents_enrolled: bool = False
    # Whether a baby born in the year before the coverage year still enrolls as a newborn; false
    # where the notice speaks only of babies born in the coverage year (004: 「当年出生的新生儿」).
    born_the_year_before: bool = True
    source: str = "notice"


class Refund(msgspec.Struct, forbid_unknown_fields=True):
    """none: never; before_benefit_start: the national handling rules (经办规程 §16), only before the
    benefit period starts; none_after_window: none after the collection window closes, and inside
    it as before_benefit_start (004: 「在上述集中缴费期后…不得要求返还」)."""

    rule: Literal["none", "before_benefit_start", "none_after_window", "unspecified"]
    source: str = "notice"


class Subsidy(msgspec.Struct, forbid_unknown_fields=True):
    """One identity category's subsidy. Amount: `percent` of a tier's resident standard, `amount`,
    or `set_elsewhere` (the notice subsidises the group by an amount other rules set, 「根据政策据实进行
    补助」: the sentence that says so; the person's payable is then undetermined, never silently zero)."""

    category: str
    funder: str
    # Categories the notice's group takes in as a whole (000, 001 and 004 subsidise 「建档立卡贫困人口」,
    # which holds both 未脱贫户 and 巩固脱贫户; only 003 tells them apart), with the reading's basis.
    includes: list[str] = []
    includes_source: str = ""
    percent: int | None = None
    percent_of_tier: int = 1
    amount: str | None = None
    set_elsewhere: str | None = None
    tiers: list[int] | None = None  # the tiers it applies to; None: every tier of the policy
    # On a tier not listed: nothing ("none", where the notice limits it) or undetermined
    # ("unspecified", where the notice names one tier and says nothing of a person choosing another).
    other_tiers: Literal["none", "unspecified"] = "none"
    other_tiers_source: str = ""
    # Decision 6: on tier 2 a percentage of tier 1 keeps its tier-1 amount ("keep") unless the
    # notice says otherwise: the full tier-1 amount ("full_tier1") or the full tier-2 amount.
    on_tier2: Literal["keep", "full_tier1", "full_tier2"] = "keep"


class Elsewhere(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Insurance held elsewhere (职工医保, or another 统筹区's resident scheme) overlapping a coverage
    year: the enrollment is refused, naming it (「不得重复参保」), or, where a notice allows it, taken
    with a warning. Either way it is a refund ground and the person is not 应保未保 (SPEC Decision 15)."""

    rule: Literal["refuse", "warn"] = "refuse"
    source: str = "基本医疗保险参保管理经办规程: 不得重复参保 (the notice states no rule of its own)"


class Targets(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The notice's targets: the paid rate (参保缴费率) each region must reach, of the denominator the
    notice names, and the rate its assisted persons must reach: the notice's own 100% groups, each
    with its sentence."""

    rate_of_population: str | None = None  # "0.95": the share of `rate_base` to reach
    rate_source: str = "unspecified"
    # The rate's denominator: the target table's population column (户籍人口, 常住人口) or its task
    # number (002: 「应参保人数的95%」, the task number given as 应参保人数).
    rate_base: Literal["population", "target"] = "population"
    rate_base_source: str = "unspecified"
    assisted: str | None = None  # "1.00"
    assisted_source: str = "unspecified"
    # The notice's 100% groups, as category codes: who counts as "assisted" and 应保未保. Empty where
    # the notice names none: then every identity category held counts (never a fact such as a
    # newborn's family-planning compliance).
    assisted_groups: list[str] = []
    assisted_groups_source: str = "unspecified"

    def counts_as_assisted(self, held: Iterable[str]) -> bool:
        if self.assisted_groups:
            return any(c in self.assisted_groups for c in held)
        return any(c not in FACTS for c in held)


class Policy(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    region: str
    region_name: str
    year: int
    notice: str
    seed: str
    highest_applies: bool
    tier: list[Tier]
    collection: Collection
    band: list[Band]
    newborn: Newborn
    refund: Refund
    funders: dict[str, str]
    # What a later identity change does to the year's subsidy (SPEC Decision 4), the region's rule:
    # "none": a granted subsidy is frozen (002 「享受资助参保后人员身份发生变化的，不再进行差额资助」);
    # "refund": the subsidy is granted, or raised, whenever certified in the year, and what was paid
    # beyond the new payable is refunded (000 「确保应助尽助」, Chongqing practice 「应退还其多缴纳的财政补助额」);
    # "unspecified": the notice is silent, and the difference is undetermined, never silently 0.
    difference_after_grant: Literal["none", "refund", "unspecified"] | None = None
    difference_source: str = "unspecified"
    # The older yes/no form of the same rule, read where `difference_after_grant` is absent (policies
    # loaded before it existed): true is "none", false "refund".
    no_difference_after_grant: bool | None = None
    subsidy: list[Subsidy] = []
    # Where no source found states the region's subsidies: the sources searched. A person holding
    # any identity category then has an undetermined subsidy, never a silent zero.
    subsidies_unspecified: str | None = None
    student_year: StudentYear | None = None
    targets: Targets = Targets()
    elsewhere: Elsewhere = Elsewhere()
    continuity: Continuity | None = None
    critical_illness: CriticalIllness | None = None

    # -- derived views the engine uses --------------------------------------------------------
    @property
    def after_grant(self) -> str:
        """The region's rule for a difference after a grant: none, refund or unspecified."""
        if self.difference_after_grant is not None:
            return self.difference_after_grant
        if self.no_difference_after_grant is not None:
            return "none" if self.no_difference_after_grant else "refund"
        return "unspecified"

    @property
    def full_cost_bands(self) -> bool:
        return any(b.full_cost is not None for b in self.band)

    def tier_numbers(self) -> list[int]:
        return [t.tier for t in self.tier]

    def contribution_fen(self, tier: int, cohort: str) -> int:
        for t in self.tier:
            if t.tier == tier:
                if cohort == "student":
                    if t.student is None:
                        raise RefusedByRule(
                            f"policy {self.id} sets no student contribution for tier {tier}",
                            "cohort",
                            "student_contribution",
                        )
                    return amount_fen(t.student)
                if t.resident is None:
                    raise RefusedByRule(
                        f"policy {self.id} states no contribution for tier {tier} ({t.source}): the bureau loads"
                        " its notice's policy with `ledger policy load` before enrolling",
                        "tier",
                        "contribution_unspecified",
                    )
                return amount_fen(t.resident)
        raise RefusedByRule(
            f"policy {self.id} has no tier {tier}; it has tier {', '.join(map(str, self.tier_numbers()))}",
            "tier",
            "tier_exists",
        )

    def subsidy_rule(self, held: list[str] | set[str] | str) -> Subsidy | None:
        """The rule a category (or the first of several held) falls under, directly or as a member."""
        codes = [held] if isinstance(held, str) else held
        return next((r for r in self.subsidy if r.category in codes or any(c in codes for c in r.includes)), None)

    def band_limit(self, band: Band) -> date | None:
        if band.paid_through is None:
            return None
        if band.paid_through == "end_of_february":
            return end_of_february(self.year)
        return date.fromisoformat(band.paid_through)


@cache
def amount_fen(text: str) -> int:
    """A policy amount in fen; the files are checked, so each text is parsed once."""
    return parse_yuan(text)


def _problems(p: Policy) -> list[str]:
    """What `ledger policy check` reports for one policy, empty when it is sound."""
    out: list[str] = []
    if p.id != f"{p.region}-{p.year}":
        out.append(f"id {p.id!r} should be '{p.region}-{p.year}'")
    tiers = p.tier_numbers()
    if sorted(tiers) != list(range(1, len(tiers) + 1)):
        out.append(f"tiers must be numbered 1..n, got {tiers}")
    for t in p.tier:
        for label, value in (("resident", t.resident), ("student", t.student)):
            if value is not None:
                try:
                    parse_yuan(value, f"tier {t.tier} {label}")
                except InvalidInput as e:
                    out.append(str(e))
    seen: set[str] = set()
    for s in p.subsidy:
        if s.category not in CATEGORIES:
            out.append(f"subsidy: unknown category {s.category!r}")
        if s.category in seen:
            out.append(f"subsidy: category {s.category!r} listed twice")
        seen.add(s.category)
        for code in s.includes:
            if code not in CATEGORIES:
                out.append(f"subsidy {s.category}: includes unknown category {code!r}")
            if code in seen or any(code == o.category for o in p.subsidy):
                out.append(f"subsidy {s.category}: includes {code!r}, which has a rule of its own")
            seen.add(code)
        if s.funder not in p.funders:
            out.append(f"subsidy {s.category}: funder {s.funder!r} is not in [funders]")
        if sum(x is not None for x in (s.percent, s.amount, s.set_elsewhere)) != 1:
            out.append(f"subsidy {s.category}: give exactly one of percent, amount or set_elsewhere")
        if s.percent is not None and not 0 < s.percent <= 100:
            out.append(f"subsidy {s.category}: percent must be 1..100, got {s.percent}")
        if s.percent_of_tier not in tiers:
            out.append(f"subsidy {s.category}: percent_of_tier {s.percent_of_tier} is not a tier")
        if s.amount is not None:
            try:
                parse_yuan(s.amount, f"subsidy {s.category} amount")
            except InvalidInput as e:
                out.append(str(e))
        if s.tiers is not None and any(t not in tiers for t in s.tiers):
            out.append(f"subsidy {s.category}: tiers {s.tiers} not all in the policy")
    if not p.band:
        out.append("benefit: no bands")
    previous: date | None = None
    for i, b in enumerate(p.band):
        try:
            limit = p.band_limit(b)
        except ValueError:
            out.append(f"band {i + 1}: paid_through {b.paid_through!r} is not a date")
            continue
        if limit is None and i != len(p.band) - 1:
            out.append(f"band {i + 1}: only the last band may be open-ended")
        if limit is not None and previous is not None and limit <= previous:
            out.append(f"band {i + 1}: paid_through {limit} overlaps the band before ({previous})")
        if b.start == "after_days" and not b.days:
            out.append(f"band {i + 1}: after_days needs days")
        if b.full_cost is not None:
            try:
                parse_yuan(b.full_cost, f"band {i + 1} full_cost")
            except InvalidInput as e:
                out.append(str(e))
        if b.start == "waiting_period" and p.continuity is None:
            out.append(f"band {i + 1}: waiting_period needs a [continuity] section")
        previous = limit or previous
    if p.band and p.band[-1].paid_through is not None:
        out.append("benefit: the last band must be open-ended (refused or unspecified if need be)")
    out.extend(_continuity_problems(p))
    if p.student_year and p.student_year.start >= p.student_year.end:
        out.append("student_year: start must be before end")
    for code in p.targets.assisted_groups:
        if code not in CATEGORIES or code in FACTS:
            out.append(f"targets.assisted_groups: {code!r} is not an identity category")
    for name in ("rate_of_population", "assisted"):
        value = getattr(p.targets, name)
        try:
            ok = value is None or 0 < Decimal(value) <= 1
        except ArithmeticError:
            ok = False
        if not ok:
            out.append(f"targets.{name}: must be a share such as \"0.95\", got {value!r}")
    return out


def _continuity_problems(p: Policy) -> list[str]:
    out: list[str] = []
    c = p.continuity
    if c is not None:
        if not 2000 <= c.counts_from <= p.year:
            out.append(f"continuity.counts_from: {c.counts_from} must be a year no later than the policy's {p.year}")
        for name in ("fixed_months", "variable_months_per_gap_year", "min_total_months", "min_total_after_gap_years",
                     "exempt_after_employee_months"):
            value = getattr(c, name)
            if value is not None and not 0 <= value <= 24:
                out.append(f"continuity.{name}: must be 0..24, got {value}")
        if (c.min_total_months is None) != (c.min_total_after_gap_years is None):
            out.append("continuity: give both min_total_months and min_total_after_gap_years, or neither")
        for code in c.exempt_categories:
            if code not in CATEGORIES:
                out.append(f"continuity.exempt_categories: unknown category {code!r}")
    ci = p.critical_illness
    if ci is not None:
        for name in ("base_limit", "continuous_step", "zero_claim_step", "after_break_limit"):
            value = getattr(ci, name)
            if value is not None:
                try:
                    parse_yuan(value, f"critical_illness.{name}")
                except InvalidInput as e:
                    out.append(str(e))
        try:
            ok = 0 <= Decimal(ci.cap_share) <= 1
        except ArithmeticError:
            ok = False
        if not ok:
            out.append(f"critical_illness.cap_share: must be a share such as \"0.20\", got {ci.cap_share!r}")
    return out


def load_policy_file(path: Path) -> Policy:
    try:
        return msgspec.toml.decode(path.read_bytes(), type=Policy)
    except msgspec.ValidationError as e:
        raise ValueError(f"{path.name}: {e}") from None


def parse_policy(text: bytes | str, name: str = "policy") -> Policy:
    """A policy file's text, decoded and checked as the shipped files are: every problem is named,
    all at once, in the InvalidInput raised (field `policy`)."""
    try:
        p = msgspec.toml.decode(text, type=Policy)
    except (msgspec.ValidationError, msgspec.DecodeError) as e:
        raise InvalidInput(f"{name}: {e}", "policy", "policy_file") from None
    problems = _problems(p)
    if problems:
        raise InvalidInput(f"{name}: " + "; ".join(problems), "policy", "policy_file")
    return p


@cache
def shipped_policies() -> tuple[Policy, ...]:
    return tuple(load_policy_file(p) for p in sorted(POLICY_DIR.glob("*.toml")))


class PolicyVersion(msgspec.Struct, frozen=True):
    """A policy loaded into the ledger (`ledger policy load`): version n of its region and year,
    from which notice (文号 and date), by whom, and when it became known."""

    policy: Policy
    version: int
    recorded_at: datetime
    notice_number: str
    notice_date: date
    actor: str
    file_name: str
    document: str  # the file's text as loaded


# Policies loaded into the ledger this process reads, by policy id, in recording order. The
# shipped files are version 0, always under any loaded version.
_loaded: dict[str, list[PolicyVersion]] = {}


def install_loaded(versions: list[PolicyVersion]) -> None:
    """The loaded policies of the ledger this process serves (read from its log), replacing any
    installed before; the remembered answers that depend on a policy are forgotten."""
    by_id: dict[str, list[PolicyVersion]] = {}
    for v in versions:
        by_id.setdefault(v.policy.id, []).append(v)
    if by_id == _loaded:
        return
    _loaded.clear()
    _loaded.update(by_id)
    all_policies.cache_clear()
    _shipped_by_id.cache_clear()
    for forget in _FORGET:
        forget()


_FORGET: list[Any] = []  # cache_clear of every cache keyed by policy id (registered where they are made)


def loaded_versions() -> list[PolicyVersion]:
    return [v for versions in _loaded.values() for v in versions]


def load_times() -> list[datetime]:
    """When each loaded version became known, in order: the moments a report's answer may change
    without a person's event."""
    return sorted(v.recorded_at for v in loaded_versions())


@cache
def all_policies() -> tuple[Policy, ...]:
    """The policies in force now: each region and year's latest loaded version, else its file."""
    latest = {p.id: p for p in shipped_policies()}
    for pid, versions in _loaded.items():
        latest[pid] = versions[-1].policy
    return tuple(latest[k] for k in sorted(latest))


def check_policies(paths: list[Path] | None = None) -> dict[str, list[str]]:
    """File name -> problems, for every policy file (an unreadable file is one problem)."""
    report: dict[str, list[str]] = {}
    ids: dict[tuple[str, int], str] = {}
    for path in paths or sorted(POLICY_DIR.glob("*.toml")):
        try:
            p = load_policy_file(path)
        except (ValueError, msgspec.DecodeError) as e:
            report[path.name] = [str(e)]
            continue
        problems = _problems(p)
        if (p.region, p.year) in ids:
            problems.append(f"same region and year as {ids[(p.region, p.year)]}")
        ids[(p.region, p.year)] = path.name
        report[path.name] = problems
    return report


def policy_by_id(policy_id: str, known_at: datetime | None = None) -> Policy:
    return policy_version(policy_id, known_at)[0]


def policy_version(policy_id: str, known_at: datetime | None = None) -> tuple[Policy, int]:
    """The policy and its version as known at `known_at` (default: now). A question about a past
    moment uses the version loaded by then, so a report rebuilt for that moment is the one the
    bureau saw; before the first load, the shipped file (version 0), or else the first version."""
    versions = _loaded.get(policy_id)
    if versions:
        if known_at is None:
            return versions[-1].policy, versions[-1].version
        for v in reversed(versions):
            if v.recorded_at <= known_at:
                return v.policy, v.version
        shipped = _shipped_by_id().get(policy_id)
        return (shipped, 0) if shipped is not None else (versions[0].policy, versions[0].version)
    found = _shipped_by_id().get(policy_id)
    if found is None:
        raise RefusedByRule(f"no policy with id {policy_id!r}", "policy", "policy_exists")
    return found, 0


def policy_at(policy_id: str, version: int) -> Policy:
    """A given version of a policy (0: the shipped file)."""
    if version == 0:
        return _shipped_by_id()[policy_id]
    return _loaded[policy_id][version - 1].policy


@cache
def _shipped_by_id() -> dict[str, Policy]:
    return {p.id: p for p in shipped_policies()}


def served_from(regions: tuple[str, ...], region: str) -> Policy | None:
    """The policy, if any, under which collection points of `regions` serve a person of `region`
    outside them (全渝通办)."""
    for p in all_policies():
        serves = p.collection.serves
        if serves and region.startswith(serves) and p.region.startswith(regions):
            return p
    return None


def band_for(policy: Policy, fully_paid_on: date) -> Band:
    """The band a contribution fully paid on that day falls in."""
    for band in policy.band:
        limit = policy.band_limit(band)
        if limit is None or fully_paid_on <= limit:
            return band
    return policy.band[-1]  # pragma: no cover - policy check makes the last band open-ended


def find_policy(region: str, year: int) -> Policy:
    """The policy of the longest region-code prefix for that coverage year."""
    best: Policy | None = None
    for p in all_policies():
        if p.year == year and region.startswith(p.region):
            if best is None or len(p.region) > len(best.region):
                best = p
    if best is None:
        raise RefusedByRule(*_missing_notice(region, year), "policy_exists")
    return best


def _missing_notice(region: str, year: int) -> tuple[str, str]:
    """Why a year cannot be enrolled: its notice is not loaded. Names the region's latest notice, so
    the clerk can tell the bureau which one the new year's replaces."""
    mine = sorted((p for p in all_policies() if region.startswith(p.region)), key=lambda p: (p.year, len(p.region)))
    if not mine:
        return (f"no policy covers region {region}: the ledger holds policies for "
                + ", ".join(sorted({f"{p.region} ({p.region_name})" for p in all_policies()})), "region")
    latest = mine[-1]
    return (f"no policy is in force for coverage year {year} in {latest.region_name} ({latest.region}): the {year}"
            f" collection notice (征缴通知) has not been loaded; the latest loaded is {latest.year}'s, {latest.notice}."
            " The bureau loads the new year's with `ledger policy load FILE --notice-number … --notice-date …`"
            " (README: a new coverage year)", "year")
