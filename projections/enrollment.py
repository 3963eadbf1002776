"""The enrollment report: per child region, population and target against enrolled, paid, covered,
assisted persons and assisted enrolled, as of a date and as known at a time.

Every rate, and `assisted_enrolled`, counts persons enrolled and paid (参保缴费, SPEC Decision 14):
the notices' 参保率 and their 100% targets are of people who paid (or are subsidised in full).
`enrolled_unpaid` stands beside them; `undetermined` counts the persons no rule settles, never
counted as not covered, in two kinds: `coverage_undetermined`, paid persons whose benefit start no
rule settles (Decision 12), and `payable_undetermined`, persons not yet paid whose amount owed is
unknown (a subsidy set by other rules, a newborn's waiver waiting for a fact)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

from domain.coverage import CoverageView
from domain.errors import LedgerError
from domain.person import Person
from domain.policy import Targets, find_policy, policy_by_id
from domain.regions import name_of
from projections.reference import TargetTable, child_regions, target_tables

COLUMNS = ["region", "name", "population", "target", "enrolled", "paid", "enrolled_unpaid", "covered",
           "undetermined", "coverage_undetermined", "payable_undetermined", "assisted", "assisted_enrolled",
           "rate_of_population", "rate_of_target", "below_target",
           "assisted_below_target"]
COUNTS = ["enrolled", "paid", "covered", "undetermined", "payable_undetermined", "assisted", "assisted_enrolled"]


class Source(Protocol):
    """Where a report's figures come from: the projection (queries.py) or a brute-force fold (brute.py)."""

    def enrollment_counts(self, region: str, width: int, year: int, on: date) -> dict[str, Counter[str]]: ...
    def subsidy_groups(self, region: str, year: int, on: date) -> tuple[dict[tuple[str, str], list[int]], dict[str, str]]: ...
    def payment_groups(self, region: str, year: int, on: date) -> dict[tuple[str, str, str], list[Any]]: ...
    def channel_groups(self, region: str, year: int, on: date) -> dict[tuple[str, str], list[int]]: ...
    def unenrolled_assisted(self, region: str, year: int, on: date) -> list[tuple[str, str, str, str, str]]: ...
    def payable(self, region: str, year: int, on: date) -> Iterable[tuple[Person, CoverageView]]: ...


def awaiting_amount(groups: dict[tuple[str, str], list[int]], names: dict[str, str], person: Person,
                    view: CoverageView) -> None:
    """Count an enrolled person under a subsidy whose amount is undetermined (据实), paid or not, in
    its funder's group, apart from what is spent. Both sources call it on the same fold."""
    if not (view.enrolled and view.subsidy_amount_unknown):
        return
    granted = person.enrollments[view.year].subsidy
    if granted is None or not granted.undetermined or not granted.funder:
        return
    names.setdefault(granted.funder, policy_by_id(view.policy).funders.get(granted.funder, granted.funder)
                     if view.policy else granted.funder)
    groups[(granted.funder, granted.category)][2] += 1


def rate(part: int, whole: int | None) -> str | None:
    """A share as a decimal string with four places ("0.9512"); none where the whole is unknown."""
    if not whole:
        return None
    return str((Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def _targets(region: str, year: int) -> Targets | None:
    try:
        return find_policy(region, year).targets
    except LedgerError:
        return None  # a region over several policies (a province): no one target to hold it to


def mark_targets(row: dict[str, Any], targets: Targets | None) -> None:
    """below_target: the paid count under the target number, or the paid share of the rate's base
    (the population, or the task number where the notice names 应参保人数) under the policy's
    rate; assisted_below_target: assisted persons not all (per the policy's share) enrolled and
    paid. None where no target applies. Compared exactly, in decimals."""
    share = Decimal(targets.rate_of_population) if targets and targets.rate_of_population else None
    base = row["target"] if targets and targets.rate_base == "target" else row["population"]
    checks = []
    if row["target"]:
        checks.append(row["paid"] < row["target"])
    if share is not None and base:
        checks.append(Decimal(row["paid"]) < share * base)
    row["below_target"] = any(checks) if checks else None
    assisted = Decimal(targets.assisted) if targets and targets.assisted else None
    row["assisted_below_target"] = (Decimal(row["assisted_enrolled"]) < assisted * row["assisted"]
                                    if assisted is not None else None)


def enrollment_report(source: Source, region: str, year: int, on: date,
                      table: TargetTable | None | bool = True) -> dict[str, Any]:
    """`table`: the target table to report against (projections/targets.py finds loaded ones);
    True for the one shipped with the product."""
    if table is True:
        table = target_tables().get((region, year))
    children = [(r.code, r.name) for r in table.rows] if table else child_regions(region, year)
    width = len(children[0][0]) if children else len(region) + 3
    counts = source.enrollment_counts(region, width, year, on)
    figures = {r.code: (r.population, r.target) for r in table.rows} if table else {}
    warnings = list(table.warnings) if table else [f"no target table for region {region} and year {year}"]
    rows = []
    listed = {code for code, _ in children}
    extra = sorted(set(counts) - listed)
    if extra:
        warnings.append(f"persons enrolled or assisted in regions the table does not list: {', '.join(extra)}")
    for code, name in [*children, *((c, name_of(c)) for c in extra)]:
        population, target = figures.get(code, (None, None))
        c = counts.get(code, Counter())
        rows.append({"region": code, "name": name, "population": population, "target": target,
                     **{k: c[k] for k in COUNTS}, "enrolled_unpaid": c["enrolled"] - c["paid"],
                     "coverage_undetermined": c["undetermined"] - c["payable_undetermined"],
                     "rate_of_population": rate(c["paid"], population), "rate_of_target": rate(c["paid"], target)})
    total_population = sum(r["population"] or 0 for r in rows) if figures else None
    total_target = sum(r["target"] or 0 for r in rows) if figures else None
    total = {"region": region, "name": name_of(region), "population": total_population, "target": total_target,
             **{k: sum(r[k] for r in rows) for k in (*COUNTS, "enrolled_unpaid", "coverage_undetermined")}}
    total["rate_of_population"] = rate(total["paid"], total_population)
    total["rate_of_target"] = rate(total["paid"], total_target)
    targets = _targets(region, year)
    for row in (*rows, total):
        mark_targets(row, targets)
    below = [r["name"] for r in rows if r["below_target"]]
    if below:
        warnings.append(f"{len(below)} of {len(rows)} regions below their target: {', '.join(below)}")
    assisted_below = [r["name"] for r in rows if r["assisted_below_target"]]
    if assisted_below:
        warnings.append(f"{len(assisted_below)} of {len(rows)} regions with assisted persons not all enrolled and"
                        f" paid: {', '.join(assisted_below)}")
    return {"region": region, "year": year, "as_of": on.isoformat(), "rows": rows, "total": total,
            "targets": {"rate_of_population": targets.rate_of_population, "rate_source": targets.rate_source,
                        "rate_base": targets.rate_base, "rate_base_source": targets.rate_base_source,
                        "assisted": targets.assisted, "assisted_source": targets.assisted_source,
                        "assisted_groups": list(targets.assisted_groups),
                        "assisted_groups_source": targets.assisted_groups_source} if targets else None,
            "warnings": warnings}
