"""The policy model: one TOML file per region and coverage year under domain/policies/.

The files are data; this module reads them into typed Structs (msgspec validates the shape) and
checks what a shape cannot say (categories from the vocabulary, bands in order, amounts). The rule
engine (domain/rules.py) reads these objects and nothing else.
"""

from __future__ import annotations

from datetime import date
from functools import cache
from pathlib import Path
from typing import Literal

from decimal import Decimal

import msgspec

from domain.categories import CATEGORIES
from domain.dates import end_of_february
from domain.errors import InvalidInput, RefusedByRule
from domain.money import parse_yuan

POLICY_DIR = Path(__file__).parent / "policies"

BandStart = Literal["year_start", "next_month", "after_days", "refused", "unspecified"]


class Tier(msgspec.Struct, forbid_unknown_fields=True):
    tier: int
    resident: str  # yuan, e.g. "280.00"
    student: str | None = None


class StudentYear(msgspec.Struct, forbid_unknown_fields=True):
    start: date
    end: date


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
    in a leap year), or absent for the last, open-ended band.
    """

    start: BandStart
    paid_through: str | None = None
    days: int | None = None
    source: str = "notice"


class Newborn(msgspec.Struct, forbid_unknown_fields=True):
    rule: Literal["from_birth", "unspecified"] = "unspecified"
    anchor: Literal["birth", "hukou_registration"] = "birth"
    within_days: int = 90
    measured_by: Literal["enrolled_on", "fully_paid_on"] = "fully_paid_on"
    late_start: Literal["bands", "next_month"] = "bands"
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
    percent: int | None = None
    percent_of_tier: int = 1
    amount: str | None = None
    set_elsewhere: str | None = None
    tiers: list[int] | None = None  # the tiers it applies to; None: every tier of the policy
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
    """The notice's targets: the paid rate of the population (参保缴费率) each region must reach, and
    the rate its assisted persons must reach (the 100% groups), each with its sentence."""

    rate_of_population: str | None = None  # "0.95"
    rate_source: str = "unspecified"
    assisted: str | None = None  # "1.00"
    assisted_source: str = "unspecified"


class Policy(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    region: str
    region_name: str
    year: int
    notice: str
    seed: str
    highest_applies: bool
    no_difference_after_grant: bool
    tier: list[Tier]
    collection: Collection
    band: list[Band]
    newborn: Newborn
    refund: Refund
    funders: dict[str, str]
    subsidy: list[Subsidy] = []
    student_year: StudentYear | None = None
    targets: Targets = Targets()
    elsewhere: Elsewhere = Elsewhere()

    # -- derived views the engine uses --------------------------------------------------------
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
                return amount_fen(t.resident)
        raise RefusedByRule(
            f"policy {self.id} has no tier {tier}; it has tier {', '.join(map(str, self.tier_numbers()))}",
            "tier",
            "tier_exists",
        )

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
        previous = limit or previous
    if p.band and p.band[-1].paid_through is not None:
        out.append("benefit: the last band must be open-ended (refused or unspecified if need be)")
    if p.student_year and p.student_year.start >= p.student_year.end:
        out.append("student_year: start must be before end")
    for name in ("rate_of_population", "assisted"):
        value = getattr(p.targets, name)
        try:
            ok = value is None or 0 < Decimal(value) <= 1
        except ArithmeticError:
            ok = False
        if not ok:
            out.append(f"targets.{name}: must be a share such as \"0.95\", got {value!r}")
    return out


def load_policy_file(path: Path) -> Policy:
    try:
        return msgspec.toml.decode(path.read_bytes(), type=Policy)
    except msgspec.ValidationError as e:
        raise ValueError(f"{path.name}: {e}") from None


@cache
def all_policies() -> tuple[Policy, ...]:
    return tuple(load_policy_file(p) for p in sorted(POLICY_DIR.glob("*.toml")))


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


def policy_by_id(policy_id: str) -> Policy:
    found = _policies_by_id().get(policy_id)
    if found is None:
        raise RefusedByRule(f"no policy with id {policy_id!r}", "policy", "policy_exists")
    return found


@cache
def _policies_by_id() -> dict[str, Policy]:
    return {p.id: p for p in all_policies()}


def served_from(regions: tuple[str, ...], region: str) -> Policy | None:
    """The policy, if any, under which collection points of `regions` serve a person of `region`
    outside them (全渝通办)."""
    for p in all_policies():
        serves = p.collection.serves
        if serves and region.startswith(serves) and p.region.startswith(regions):
            return p
    return None


def find_policy(region: str, year: int) -> Policy:
    """The policy of the longest region-code prefix for that coverage year."""
    best: Policy | None = None
    for p in all_policies():
        if p.year == year and region.startswith(p.region):
            if best is None or len(p.region) > len(best.region):
                best = p
    if best is None:
        raise RefusedByRule(
            f"no policy for region {region} and coverage year {year}: the ledger knows "
            + ", ".join(f"{p.region} {p.year}" for p in all_policies()),
            "year",
            "policy_exists",
        )
    return best
